import type { ComponentChildren } from 'preact';
import { useModal } from './modal';

interface Props {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}

/**
 * A modal question (the native <dialog>: the focus stays in it, Escape cancels), shown while the
 * component is rendered. Once it goes, the focus goes back to where it was (the button that
 * asked), where that is still there to take it: removed while open, the dialog gives it back to
 * no one.
 */
export function Confirm({ title, children, confirmLabel, onConfirm, onCancel }: Props) {
  const { dialog } = useModal();
  return (
    <dialog
      ref={dialog}
      class="confirm"
      aria-labelledby="confirm-title"
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      <h2 id="confirm-title">{title}</h2>
      <div class="confirm-body">{children}</div>
      <div class="actions">
        <button type="button" class="button" onClick={onCancel} autofocus>
          Cancel
        </button>
        <button type="button" class="button danger" onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
