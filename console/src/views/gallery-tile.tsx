import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ImageDto } from '@sdk';
import { Link } from '../components/link';
import { Picture } from '../components/picture';
import { changedFields, useDraft } from '../draft';
import { quoted } from '../format';

/** What the edit form changes, as text. */
type ImageFields = { title: string; alt_text: string; description: string };

export interface TileActions {
  move: (id: string, direction: -1 | 1) => void;
  makePrimary: (image: ImageDto) => void;
  /**
   * Saves only the fields given (those the person changed); `stored` takes the service's answer
   * as soon as it comes, before the gallery is read again.
   */
  save: (
    image: ImageDto,
    fields: Partial<ImageFields>,
    stored: (saved: ImageDto) => void,
  ) => Promise<boolean>;
  askDelete: (image: ImageDto) => void;
}

interface Props {
  productId: string;
  image: ImageDto;
  position: number;
  count: number;
  canMove: { earlier: boolean; later: boolean };
  busy: boolean;
  /** The person may only look: no move, edit or delete. */
  readOnly: boolean;
  actions: TileActions;
  drag: {
    dragging: boolean;
    dropBefore: boolean;
    dropAfter: boolean;
    handlers: Record<string, (event: DragEvent) => void>;
  };
}

const titleOf = (image: ImageDto) => image.title || image.original_filename || 'Untitled image';

/** The focus went with an element that is gone or disabled: nothing has it. */
export const focusLost = () => !document.activeElement || document.activeElement === document.body;

/**
 * Once the tile's own action is over (it became the primary, its Make primary button gone; its
 * edit form closed), the focus lost with the button or the form goes to its Edit button, rather
 * than to the top of the page.
 */
function useFocusAfterOwnChange(image: ImageDto, editing: boolean, busy: boolean) {
  const editButton = useRef<HTMLButtonElement>(null);
  const before = useRef({ primary: image.is_primary, editing });
  const pending = useRef(false);
  useEffect(() => {
    const wasPrimary = before.current.primary;
    const wasEditing = before.current.editing;
    before.current = { primary: image.is_primary, editing };
    if ((image.is_primary && !wasPrimary) || (wasEditing && !editing)) pending.current = true;
    if (!pending.current || busy) return;
    pending.current = false;
    if (focusLost()) editButton.current?.focus();
  }, [image.is_primary, editing, busy]);
  return editButton;
}

/** Alt text on one line: the service refuses tabs and line breaks in it. */
const oneLine = (text: string): string => text.replace(/[\t\r\n\v\f\u0085\u2028\u2029]+/g, ' ');

/** One image of the gallery: its picture, where it stands, and what can be done with it. */
export function GalleryTile({
  productId,
  image,
  position,
  count,
  canMove,
  busy,
  readOnly,
  actions,
  drag,
}: Props) {
  const [editing, setEditing] = useState(false);
  const editButton = useFocusAfterOwnChange(image, editing, busy);
  const name = titleOf(image);
  const classes = [
    'tile',
    image.is_primary ? 'tile-primary' : '',
    drag.dragging ? 'tile-dragging' : '',
    drag.dropBefore ? 'drop-before' : '',
    drag.dropAfter ? 'drop-after' : '',
  ].join(' ');
  return (
    <li
      class={classes}
      data-image-id={image.id}
      draggable={!readOnly && !image.is_primary && !editing && !busy}
      {...drag.handlers}
    >
      <div class="tile-picture">
        <Picture
          image={image.responsive.card}
          alt={image.alt_text}
          sizes="(max-width: 520px) 45vw, 240px"
        />
        {image.is_primary && (
          <span class="badge badge-primary">
            <svg aria-hidden="true" viewBox="0 0 20 20" width="14" height="14">
              <path
                d="M10 1.5l2.6 5.3 5.9.9-4.3 4.1 1 5.8L10 14.9l-5.2 2.7 1-5.8L1.5 7.7l5.9-.9z"
                fill="currentColor"
              />
            </svg>
            Primary
          </span>
        )}
        <span class="badge badge-position" aria-hidden="true">
          {position}
        </span>
      </div>
      {editing ? (
        <EditForm
          image={image}
          name={name}
          busy={busy}
          onSave={actions.save}
          onDone={() => setEditing(false)}
        />
      ) : (
        <div class="tile-body">
          <p class="tile-title">
            <bdi>{name}</bdi>
            <span class="visually-hidden">
              , {position} of {count}
            </span>
          </p>
          <p class="tile-meta">
            {image.width}×{image.height} · {image.format.toUpperCase()} ·{' '}
            {image.human_readable_size}
          </p>
          {image.alt_text ? (
            <p class="tile-alt">
              <span class="visually-hidden">Alt text: </span>
              {image.alt_text}
            </p>
          ) : (
            <p class="tile-alt tile-alt-missing">No alt text yet</p>
          )}
          {image.description && (
            <p class="tile-description">
              <span class="visually-hidden">Description: </span>
              {image.description}
            </p>
          )}
          <div class="tile-actions">
            {!readOnly && (
              <>
                <div class="move-buttons" role="group" aria-label={`Move ${name}`}>
                  <button
                    type="button"
                    class="button icon"
                    data-move="earlier"
                    disabled={busy || !canMove.earlier}
                    onClick={() => actions.move(image.id, -1)}
                    aria-label={`Move ${name} earlier`}
                    title="Move earlier"
                  >
                    <svg aria-hidden="true" viewBox="0 0 20 20" width="16" height="16">
                      <path
                        d="M12.5 4l-6 6 6 6"
                        fill="none"
                        stroke="currentColor"
                        stroke-width="2"
                      />
                    </svg>
                  </button>
                  <button
                    type="button"
                    class="button icon"
                    data-move="later"
                    disabled={busy || !canMove.later}
                    onClick={() => actions.move(image.id, 1)}
                    aria-label={`Move ${name} later`}
                    title="Move later"
                  >
                    <svg aria-hidden="true" viewBox="0 0 20 20" width="16" height="16">
                      <path d="M7.5 4l6 6-6 6" fill="none" stroke="currentColor" stroke-width="2" />
                    </svg>
                  </button>
                </div>
                {!image.is_primary && (
                  <button
                    type="button"
                    class="button small"
                    disabled={busy}
                    onClick={() => actions.makePrimary(image)}
                    aria-label={`Make primary: ${name}`}
                  >
                    Make primary
                  </button>
                )}
                <button
                  ref={editButton}
                  type="button"
                  class="button small"
                  disabled={busy}
                  onClick={() => setEditing(true)}
                  aria-label={`Edit ${name}`}
                >
                  Edit
                </button>
              </>
            )}
            <Link
              class="button small subtle"
              to={`/products/${productId}/images/${image.id}`}
              aria-label={`Details of ${name}`}
            >
              Details
            </Link>
            {!readOnly && (
              <button
                type="button"
                class="button small danger-text"
                disabled={busy}
                onClick={() => actions.askDelete(image)}
                aria-label={`Delete ${name}`}
              >
                Delete
              </button>
            )}
          </div>
        </div>
      )}
    </li>
  );
}

interface EditProps {
  image: ImageDto;
  name: string;
  /** Another change of the gallery is on its way: saving waits for it (its If-Match is stale). */
  busy: boolean;
  onSave: TileActions['save'];
  onDone: () => void;
}

const fieldsOf = (image: ImageDto): ImageFields => ({
  title: image.title ?? '',
  alt_text: image.alt_text ?? '',
  description: image.description ?? '',
});

/**
 * Title, alt text and description, edited in place. Only the fields the person changed are sent:
 * one someone else changed meanwhile, once the gallery is read again (an upload, a 412), shows
 * their value in the form rather than being written back; one both changed says so.
 */
function EditForm({ image, name, busy, onSave, onDone }: EditProps) {
  const { draft, set, settle, unsaved } = useDraft(fieldsOf(image), true);
  const [saving, setSaving] = useState(false);
  const titleField = useRef<HTMLInputElement>(null);
  // Opened: the focus goes to its first field at once, in the task that opened it (an effect runs
  // a frame later: what is typed meanwhile, or a field clicked meanwhile, would lose to it).
  useLayoutEffect(() => titleField.current?.focus(), []);
  if (!draft) return null;
  const { values, theirs } = draft;
  const id = image.id;
  const submit = async (event: Event) => {
    event.preventDefault();
    if (saving || busy) return;
    const changes = changedFields(draft);
    if (Object.keys(changes).length === 0) return onDone();
    setSaving(true);
    const sent = draft.values;
    const saved = await onSave(image, changes, (stored) => settle(sent, fieldsOf(stored)));
    setSaving(false);
    // What the person typed while the save was on its way keeps the form open, to be saved too.
    if (saved && !unsaved()) onDone();
  };
  // No maxlength on the text fields: the browser counts UTF-16 units (two for an emoji), the
  // service characters; its refusal of a text too long names the limit, and is shown.
  return (
    <form class="tile-edit stack" onSubmit={(e) => void submit(e)} aria-label={`Edit ${name}`}>
      <div class="field">
        <label for={`title-${id}`}>Title</label>
        <input
          ref={titleField}
          id={`title-${id}`}
          value={values.title}
          onInput={(e) => set('title', e.currentTarget.value)}
        />
        <TheirValue id={`title-theirs-${id}`} value={theirs.title} />
      </div>
      <div class="field">
        <label for={`alt-${id}`}>Alt text</label>
        <textarea
          id={`alt-${id}`}
          rows={2}
          aria-describedby={`alt-hint-${id}`}
          value={values.alt_text}
          // One line, as the service takes it: a pasted line break or tab becomes a space, and
          // Enter saves the form, as in the title (the field wraps a long text only to show it).
          onInput={(e) => set('alt_text', oneLine(e.currentTarget.value))}
          onKeyDown={(e) => {
            if (e.key !== 'Enter' || e.isComposing) return;
            e.preventDefault();
            e.currentTarget.form?.requestSubmit();
          }}
        />
        <TheirValue id={`alt-theirs-${id}`} value={theirs.alt_text} />
        <p class="hint" id={`alt-hint-${id}`}>
          What the image shows, for people who cannot see it.
        </p>
      </div>
      <div class="field">
        <label for={`description-${id}`}>Description</label>
        <textarea
          id={`description-${id}`}
          rows={2}
          value={values.description}
          onInput={(e) => set('description', e.currentTarget.value)}
        />
        <TheirValue id={`description-theirs-${id}`} value={theirs.description} />
      </div>
      <div class="actions">
        <button type="button" class="button small" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" class="button small primary" disabled={saving || busy}>
          Save
        </button>
      </div>
    </form>
  );
}

/** Another person's value of a field the person changed too: saving writes theirs over it. */
export function TheirValue({ id, value }: { id: string; value: string | undefined }) {
  if (value === undefined) return null;
  return (
    <p class="hint conflict" id={id} role="status">
      {value === ''
        ? 'Someone else cleared this meanwhile.'
        : `Someone else changed this meanwhile to ${quoted(value)}.`}{' '}
      Saving keeps what you wrote.
    </p>
  );
}
