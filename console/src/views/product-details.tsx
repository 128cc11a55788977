import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { deleteProduct, updateProduct, type ProductDto, type UpdateProductDto } from '@sdk';
import { CallFailed, messageOf, unwrap } from '../api';
import { Confirm } from '../components/confirm';
import { ErrorText, type NoticeValue } from '../components/notice';
import { formatCount, quoted } from '../format';
import { navigate } from '../router';
import { useDraft } from '../draft';
import { TheirValue } from './gallery-tile';
import { announceOnProducts } from './products';

const CHANGED_UNDERNEATH =
  'Someone else changed this product while you were working on it. It has been reloaded to show ' +
  'their change; yours was not saved, so check it and try again.';

const CHANGED_UNDER_FORM =
  'Someone else changed this product while you were editing it. The form now shows their ' +
  'change, beside what you wrote; yours was not saved, so check it and save again.';

interface Props {
  product: ProductDto;
  /** The person may only look: the description, no form, no delete. */
  readOnly: boolean;
  /** Shows the product as saved (the PATCH's answer). */
  onSaved: (product: ProductDto) => void;
  /** Reads the product (and its gallery) again: after a 412, what the other person made of it. */
  reload: () => Promise<void>;
  notify: (notice: NoticeValue) => void;
}

/** The fields a person may change, as the form holds them (text; an empty GTIN or id clears it). */
type Fields = {
  name: string;
  slug: string;
  gtin: string;
  external_id: string;
  description: string;
};

const fieldsOf = (product: ProductDto): Fields => ({
  name: product.name,
  slug: product.slug,
  gtin: product.gtin ?? '',
  external_id: product.external_id ?? '',
  description: product.description,
});

/**
 * Only what the person changed since the form opened (or since the product was read again: see
 * useDraft), so that a field someone else changed meanwhile is not written back.
 */
function changesOf(before: Fields, after: Fields): UpdateProductDto {
  const body: UpdateProductDto = {};
  const trimmed = (value: string) => value.trim();
  if (trimmed(after.name) !== before.name) body.name = trimmed(after.name);
  if (trimmed(after.slug) !== before.slug) body.slug = trimmed(after.slug);
  if (trimmed(after.gtin) !== before.gtin) body.gtin = trimmed(after.gtin) || null;
  if (trimmed(after.external_id) !== before.external_id) {
    body.external_id = trimmed(after.external_id) || null;
  }
  if (after.description !== before.description) body.description = after.description;
  return body;
}

/**
 * The product's own fields, changed in a form, and the product deleted after a confirmation;
 * each sends the product's version as If-Match, so that another person's change made meanwhile
 * is never overwritten (412: the product is read again and the person told).
 */
export function ProductDetails({ product, readOnly, onSaved, reload, notify }: Props) {
  const { draft, open, close, set, settle } = useDraft(fieldsOf(product));
  const editing = draft?.values;
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const editButton = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);
  const ifMatch = { 'If-Match': `"p${product.version}"` };

  // The form takes the focus when it opens, and gives it back to its button when it closes, at
  // once (an effect runs a frame later: what is typed meanwhile would be lost, or land elsewhere).
  useLayoutEffect(() => {
    if (editing && !wasEditing.current) form.current?.querySelector('input')?.focus();
    if (!editing && wasEditing.current) editButton.current?.focus();
    wasEditing.current = editing !== undefined;
  }, [editing]);

  // A 412 keeps an open form and what the person wrote: read again, the product's new values
  // come into the fields they did not change (useDraft), and the next save sends the new version.
  const refused = async (caught: unknown): Promise<void> => {
    if (caught instanceof CallFailed && caught.status === 412) {
      await reload().catch(() => undefined);
      notify({ kind: 'error', text: draft ? CHANGED_UNDER_FORM : CHANGED_UNDERNEATH });
    } else if (editing) setError(messageOf(caught));
    else notify({ kind: 'error', text: messageOf(caught) });
  };

  const save = async (event: Event) => {
    event.preventDefault();
    if (!draft) return;
    const body = changesOf(draft.base, draft.values);
    if (Object.keys(body).length === 0) return close();
    setBusy(true);
    setError(undefined);
    try {
      const saved = await unwrap(
        updateProduct({ path: { productId: product.id }, body, headers: ifMatch }),
      );
      onSaved(saved);
      // What the person typed while the save was on its way stays in the form, to be saved too.
      const unsaved = settle(draft.values, fieldsOf(saved));
      if (!unsaved) close();
      notify({
        kind: 'success',
        text: `Saved ${quoted(saved.name)}.${unsaved ? ' What you typed since is still in the form.' : ''}`,
      });
    } catch (caught) {
      await refused(caught);
    }
    setBusy(false);
  };

  const remove = async () => {
    setConfirming(false);
    setBusy(true);
    try {
      await unwrap(deleteProduct({ path: { productId: product.id }, headers: ifMatch }));
      // The product's page is gone: Back does not lead to it, and the list says what was done.
      announceOnProducts(`Deleted ${quoted(product.name)}.`);
      navigate('/products', { replace: true });
      return;
    } catch (caught) {
      await refused(caught);
    }
    setBusy(false);
  };

  const field = (name: keyof Fields, label: string, extra: Record<string, unknown> = {}) => (
    <div class="field">
      <label for={`product-${name}`}>{label}</label>
      <input
        id={`product-${name}`}
        value={editing?.[name]}
        onInput={(e) => set(name, e.currentTarget.value)}
        {...extra}
      />
      <TheirValue id={`product-${name}-theirs`} value={draft?.theirs[name]} />
    </div>
  );

  return (
    <section class="product-details" aria-label="Product">
      {product.description && !editing && <p class="product-description">{product.description}</p>}
      {!editing && !readOnly && (
        <div class="actions">
          <button
            type="button"
            class="button"
            ref={editButton}
            disabled={busy}
            onClick={() => {
              setError(undefined);
              open();
            }}
          >
            Edit product
          </button>
          <button
            type="button"
            class="button danger"
            disabled={busy}
            onClick={() => setConfirming(true)}
          >
            Delete product
          </button>
        </div>
      )}
      {editing && (
        <form ref={form} class="panel" aria-label="Edit product" onSubmit={(e) => void save(e)}>
          {field('name', 'Name', { required: true })}
          {/* A maxlength on the slug only: ASCII, so the browser's count (UTF-16 units) is the
              service's. The other fields' limits are the service's to say, in characters. */}
          {field('slug', 'Slug', { required: true, maxLength: 100 })}
          {field('gtin', 'GTIN (empty: none)', { inputMode: 'numeric' })}
          {field('external_id', 'External id (empty: none)')}
          <div class="field">
            <label for="product-description">Description</label>
            <textarea
              id="product-description"
              rows={3}
              value={editing.description}
              onInput={(e) => set('description', e.currentTarget.value)}
            />
            <TheirValue id="product-description-theirs" value={draft.theirs.description} />
          </div>
          {error && <ErrorText>{error}</ErrorText>}
          <div class="actions">
            <button type="button" class="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" class="button primary" disabled={busy}>
              Save product
            </button>
          </div>
        </form>
      )}
      {confirming && (
        <Confirm
          title="Delete this product?"
          confirmLabel="Delete product"
          onCancel={() => setConfirming(false)}
          onConfirm={() => void remove()}
        >
          <p>
            “<bdi>{product.name}</bdi>” will be deleted
            {product.image_count > 0 &&
              `, with its ${formatCount(product.image_count, 'image', 'images')} and their files`}
            . This cannot be undone.
          </p>
        </Confirm>
      )}
    </section>
  );
}
