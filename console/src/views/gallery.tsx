import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  deleteProductImage,
  getProduct,
  listProductImages,
  reorderProductImages,
  updateProductImage,
  type ImageDto,
  type ProductDto,
} from '@sdk';
import {
  CallFailed,
  messageOf,
  readInSession,
  unwrap,
  unwrapVersion,
  unwrapWithVersion,
} from '../api';
import { Confirm } from '../components/confirm';
import { Link } from '../components/link';
import { Notice, type NoticeValue } from '../components/notice';
import { Page } from '../components/page';
import { ReadFailed, useRetry } from '../components/read-failed';
import { formatCount, quoted } from '../format';
import { dropOn, inOrder, movable, moveTo } from '../gallery-order';
import { focusLost, GalleryTile, type TileActions } from './gallery-tile';
import { ProductDetails } from './product-details';
import { UploadZone } from './upload-zone';
import { UrlImport } from './url-import';
import { canChange, canImport, sessionPerson, useSession } from '../session';
import { uploadsOf, watchUploads } from '../uploads';

interface GalleryState {
  /** The gallery's version as read: sent back as If-Match with every change. */
  version: number;
  items: ImageDto[];
}

const PER_PAGE = 500;

/** The whole gallery (a change of order names every image), every page of one version. */
async function loadGallery(productId: string): Promise<GalleryState> {
  const first = await unwrap(
    listProductImages({ path: { productId }, query: { per_page: PER_PAGE } }),
  );
  let items = first.items;
  let cursor = first.next_cursor;
  while (cursor) {
    const page = await unwrap(
      listProductImages({ path: { productId }, query: { per_page: PER_PAGE, cursor } }),
    );
    // Changed between two pages: read it again from the start.
    if (page.version !== first.version) return loadGallery(productId);
    items = items.concat(page.items);
    cursor = page.next_cursor;
  }
  return { version: first.version, items };
}

const CHANGED_UNDERNEATH =
  'Someone else changed this gallery while you were working on it. It has been reloaded to show ' +
  'their changes; yours was not saved, so check it and try again.';

/** The same, when an upload of the person's own may be what changed it. */
const CHANGED_MAYBE_BY_UPLOAD =
  'This gallery changed while your change was on its way: an upload of yours was stored ' +
  'meanwhile, or someone else changed it. It has been reloaded; your change was not saved, so ' +
  'check it and try again.';

const nameOf = (image: ImageDto) => image.title || image.original_filename || 'the image';

/**
 * What is shown of a product or gallery read (`next`): never an older version than the one shown
 * (a read that started before a save of this tab and answered after it), which would show the
 * save undone and send its version as If-Match, refused as someone else's change.
 */
const newest =
  <T extends { version: number }>(next: T) =>
  (now: T | undefined): T =>
    now && now.version > next.version ? now : next;

/**
 * The person's uploads to the gallery, watched while it is shown (from before its first read, so
 * that one sent before the person came back to it and stored once it is read shows too):
 * `stored` for each one stored (resolving once the gallery shows it), and how many are on their
 * way now. The gallery read again after one only brings in what the service holds: open forms
 * keep what the person typed (useDraft).
 */
function useUploadsShown(productId: string, stored: () => Promise<void>) {
  const uploads = uploadsOf(sessionPerson(), productId);
  const uploading = useRef(uploads.started.size);
  const onStored = useRef(stored);
  onStored.current = stored;
  useEffect(() => {
    uploading.current = uploads.started.size;
    return watchUploads(uploads, {
      stored: () => onStored.current(),
      sending: (count) => (uploading.current = count),
    });
  }, [uploads]);
  return uploading;
}

export function Gallery({ productId }: { productId: string }) {
  const session = useSession();
  const readOnly = !canChange(session);
  // Staff arrange galleries; importing from a URL is an admin's (the service refuses others).
  const mayImport = canImport(session);
  const [product, setProduct] = useState<ProductDto>();
  const [gallery, setGallery] = useState<GalleryState>();
  const [error, setError] = useState<unknown>();
  // The person's "Try again" after a read that failed: each reads the gallery again.
  const [attempt, retry] = useRetry(setError);
  const [notice, setNotice] = useState<NoticeValue>();
  // Changes on their way (one at a time; a count, so that one ending does not end another's).
  const [changing, setChanging] = useState(0);
  const busy = changing > 0;
  const [deleting, setDeleting] = useState<ImageDto>();
  const [dragging, setDragging] = useState<string>();
  const [dropTarget, setDropTarget] = useState<{ id: string; after: boolean }>();
  const [focusAfterMove, setFocusAfterMove] = useState<{
    id: string;
    direction: 'earlier' | 'later';
  }>();

  // Reloads after an upload stored, not yet shown, and (useUploadsShown) the uploads of this tab
  // on their way: a 412 meanwhile may come of the person's own upload, not of someone else.
  const uploadReloads = useRef(0);
  const uploading = useUploadsShown(productId, () => {
    uploadReloads.current += 1;
    return refresh().finally(() => (uploadReloads.current -= 1));
  });

  // Reloads overlap (each finished upload of a drop starts one): only the latest one is shown, or
  // an earlier one answering last would put back a gallery without the last upload.
  const latestReload = useRef(0);
  const reload = useCallback(async () => {
    const reloadNumber = ++latestReload.current;
    const [p, g] = await Promise.all([
      unwrap(getProduct({ path: { productId } })),
      loadGallery(productId),
    ]);
    if (reloadNumber !== latestReload.current) return;
    setProduct(newest(p));
    setGallery(newest(g));
  }, [productId]);
  const saved = useCallback((p: ProductDto) => setProduct(newest(p)), []);

  useEffect(() => {
    readInSession(reload).catch((caught: unknown) => setError(caught ?? new Error()));
  }, [reload, attempt]);

  // After a move with the keyboard, the focus stays on the moved image's button, unless the
  // person went on elsewhere while the move was on its way (a field typed in, a Tab).
  useEffect(() => {
    // Once the change is over: its buttons are disabled meanwhile.
    if (!focusAfterMove || busy) return;
    setFocusAfterMove(undefined);
    const tile = document.querySelector(`[data-image-id="${focusAfterMove.id}"]`);
    const onMoveButton = document.activeElement?.closest('[data-move]');
    if (!focusLost() && !(onMoveButton && tile?.contains(onMoveButton))) return;
    const same = tile?.querySelector<HTMLButtonElement>(
      `[data-move="${focusAfterMove.direction}"]`,
    );
    const other = tile?.querySelector<HTMLButtonElement>('[data-move]:not(:disabled)');
    (same && !same.disabled ? same : other)?.focus();
  }, [gallery, focusAfterMove, busy]);

  // A deleted image's buttons go with it, and the focus with them: it goes to the gallery's
  // heading, not back to the top of the page. (A tile's own changes keep it: gallery-tile.tsx.)
  const deleted = useRef(false);
  useEffect(() => {
    if (busy || !deleted.current) return;
    deleted.current = false;
    if (focusLost()) document.getElementById('gallery-title')?.focus();
  }, [busy]);

  /**
   * Shows the gallery as it is now, then `done` (what was changed); a gallery that cannot be read
   * is said so, the page kept.
   */
  const refresh = (done?: string): Promise<void> =>
    reload().then(
      () => {
        if (done) setNotice({ kind: 'success', text: done });
      },
      (caught: unknown) =>
        setNotice({
          kind: 'error',
          text: `${done ? `${done} ` : ''}The gallery could not be read again: ${messageOf(caught)}`,
        }),
    );

  /**
   * Runs a change; a 412 (the gallery changed since it was read) reloads it and says so. A change
   * the service made stays made (true) when the gallery cannot be read again after it.
   */
  const change = async (
    call: () => Promise<number | undefined>,
    done: string,
  ): Promise<boolean> => {
    setChanging((n) => n + 1);
    try {
      const version = await call();
      // The next change's If-Match, should the gallery not be read again.
      if (version !== undefined) setGallery((now) => now && { ...now, version });
    } catch (caught) {
      if (caught instanceof CallFailed && caught.status === 412) {
        const ownUpload = uploading.current > 0 || uploadReloads.current > 0;
        await reload().catch(() => undefined);
        setNotice({
          kind: 'error',
          text: ownUpload ? CHANGED_MAYBE_BY_UPLOAD : CHANGED_UNDERNEATH,
        });
      } else {
        setNotice({ kind: 'error', text: messageOf(caught) });
      }
      setChanging((n) => n - 1);
      return false;
    }
    // Said once the gallery shows it, not before.
    await refresh(done);
    setChanging((n) => n - 1);
    return true;
  };

  if (error)
    return (
      <ReadFailed
        thing="Product"
        back={{ to: '/products', label: 'Go to the products' }}
        error={error}
        retry={retry}
      />
    );
  if (!product || !gallery) return <p class="loading">Loading the gallery…</p>;

  const ifMatch = { 'If-Match': `"${gallery.version}"` };

  const reorder = (ids: string[], moved: ImageDto) => {
    if (ids.join() === gallery.items.map((i) => i.id).join()) return;
    // Shown at once; the service's answer (or the reloaded gallery) follows.
    const before = gallery;
    const shown = { ...gallery, items: inOrder(gallery.items, ids) };
    setGallery(shown);
    const position = ids.indexOf(moved.id) + 1;
    void change(
      () =>
        unwrapVersion(
          reorderProductImages({ path: { productId }, body: { image_ids: ids }, headers: ifMatch }),
        ),
      `Moved ${quoted(nameOf(moved))} to position ${position} of ${ids.length}.`,
    ).then((moved) => {
      // Refused or lost (not a 412, which showed the gallery as it is now): the order as it was.
      if (!moved) setGallery((now) => (now === shown ? before : now));
    });
  };

  const actions: TileActions = {
    move(id, direction) {
      const index = gallery.items.findIndex((i) => i.id === id);
      setFocusAfterMove({ id, direction: direction < 0 ? 'earlier' : 'later' });
      reorder(moveTo(gallery.items, id, index + direction), gallery.items[index]);
    },
    makePrimary(image) {
      void change(
        () =>
          unwrapVersion(
            updateProductImage({
              path: { productId, imageId: image.id },
              body: { is_primary: true },
              headers: ifMatch,
            }),
          ),
        `${quoted(nameOf(image))} is now the primary image.`,
      );
    },
    save(image, fields, stored) {
      return change(
        async () => {
          const { data, version } = await unwrapWithVersion(
            updateProductImage({
              path: { productId, imageId: image.id },
              body: fields,
              headers: ifMatch,
            }),
          );
          stored(data);
          return version;
        },
        `Saved ${quoted(fields.title || nameOf(image))}.`,
      );
    },
    askDelete: setDeleting,
  };

  const dragHandlers = (image: ImageDto) => ({
    onDragStart: (event: DragEvent) => {
      event.dataTransfer?.setData('text/plain', image.id);
      if (event.dataTransfer) event.dataTransfer.effectAllowed = 'move';
      setDragging(image.id);
    },
    onDragOver: (event: DragEvent) => {
      if (!dragging || dragging === image.id) return;
      event.preventDefault();
      const box = (event.currentTarget as HTMLElement).getBoundingClientRect();
      const after = event.clientX > box.left + box.width / 2;
      if (dropTarget?.id !== image.id || dropTarget.after !== after)
        setDropTarget({ id: image.id, after });
    },
    onDrop: (event: DragEvent) => {
      if (!dragging) return;
      event.preventDefault();
      const moved = gallery.items.find((i) => i.id === dragging);
      const after = dropTarget?.id === image.id ? dropTarget.after : false;
      setDragging(undefined);
      setDropTarget(undefined);
      if (moved) reorder(dropOn(gallery.items, moved.id, image.id, after), moved);
    },
    onDragEnd: () => {
      setDragging(undefined);
      setDropTarget(undefined);
    },
  });

  const count = gallery.items.length;
  return (
    <Page
      title={product.name}
      lead={
        <>
          <Link to="/products">Products</Link> · {formatCount(count, 'image', 'images')}
          {product.gtin && <> · GTIN {product.gtin}</>}
          {product.external_id && <> · External id {product.external_id}</>}
        </>
      }
    >
      <Notice notice={notice} />
      <ProductDetails
        product={product}
        readOnly={readOnly}
        onSaved={saved}
        reload={reload}
        notify={setNotice}
      />
      <div class="gallery-layout">
        <section aria-labelledby="gallery-title" class="gallery-section">
          <h2 id="gallery-title" tabIndex={-1}>
            Gallery
          </h2>
          <p class="hint" id="gallery-hint">
            {readOnly
              ? 'In display order, the primary image first. Your account may look at galleries, ' +
                'not change them.'
              : 'In display order. Drag an image to move it, or use its arrow buttons. The ' +
                'primary image is always first.'}
          </p>
          {count === 0 ? (
            <p class="empty">No images yet: add some.</p>
          ) : (
            <ol class="gallery" aria-describedby="gallery-hint" aria-busy={busy}>
              {gallery.items.map((image, index) => (
                <GalleryTile
                  key={image.id}
                  productId={productId}
                  image={image}
                  position={index + 1}
                  count={count}
                  canMove={movable(gallery.items, image.id)}
                  busy={busy}
                  readOnly={readOnly}
                  actions={actions}
                  drag={{
                    dragging: dragging === image.id,
                    dropBefore: dropTarget?.id === image.id && !dropTarget.after,
                    dropAfter: dropTarget?.id === image.id && dropTarget.after,
                    handlers: dragHandlers(image),
                  }}
                />
              ))}
            </ol>
          )}
        </section>
        {!readOnly && (
          <aside class="gallery-side">
            <UploadZone productId={productId} />
            {mayImport && <UrlImport productId={productId} onImported={() => refresh()} />}
          </aside>
        )}
      </div>
      {deleting && (
        <Confirm
          title="Delete this image?"
          confirmLabel="Delete image"
          onCancel={() => setDeleting(undefined)}
          onConfirm={() => {
            const image = deleting;
            setDeleting(undefined);
            deleted.current = true;
            void change(
              () =>
                unwrapVersion(
                  deleteProductImage({ path: { productId, imageId: image.id }, headers: ifMatch }),
                ),
              `Deleted ${quoted(nameOf(image))}.`,
            );
          }}
        >
          <p>
            “<bdi>{nameOf(deleting)}</bdi>” and its files will be deleted. This cannot be undone.
          </p>
        </Confirm>
      )}
    </Page>
  );
}
