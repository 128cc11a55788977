import type { ComponentChildren } from 'preact';
import { ErrorText } from './notice';

interface NewItemPanelProps {
  /** Whether the form is shown; closed, only its opening button is. */
  open: boolean;
  onOpen: () => void;
  onCancel: () => void;
  onSubmit: () => void;
  /** The ids' prefix: the heading is `<id>-title`, naming the form for screen readers. */
  id: string;
  /** "New product": the opening button's text and the form's heading. */
  title: string;
  /** "Create product": the submit button's text. */
  submitLabel: string;
  /** While a submission is under way: the submit button is disabled (no second one). */
  busy: boolean;
  /** The last submission's refusal, in the service's words. */
  error?: string;
  children: ComponentChildren;
}

/**
 * A "New …" form of a list page (products, API keys, users): a button that opens it, then the
 * fields under a heading, the refusal of the last submission, and Cancel and Create.
 */
export function NewItemPanel(props: NewItemPanelProps) {
  const { open, id, title, busy, error } = props;
  if (!open) {
    return (
      <button type="button" class="button primary" onClick={props.onOpen}>
        {title}
      </button>
    );
  }
  return (
    <form
      class="panel new-item"
      onSubmit={(event) => {
        event.preventDefault();
        props.onSubmit();
      }}
      aria-labelledby={`${id}-title`}
    >
      <h2 id={`${id}-title`}>{title}</h2>
      {props.children}
      {error && <ErrorText>{error}</ErrorText>}
      <div class="actions">
        <button type="button" class="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" class="button primary" disabled={busy}>
          {props.submitLabel}
        </button>
      </div>
    </form>
  );
}
