import { useEffect, useRef, useState } from 'preact/hooks';
import { createImport, getImport, listImportRows, type ImportDto } from '@sdk';
import { CallFailed, messageOf, newIdempotencyKey, readInSession, retryable, unwrap } from '../api';
import { Link } from '../components/link';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const POLL_MS = 700;
/** How long the panel follows an import; a slower one goes on, and the Jobs view shows it. */
const FOLLOW_MS = 120_000;

/**
 * Follows an import until every row is done (the service fetches the URL in the background):
 * the import when done; `slow` after FOLLOW_MS; undefined once `wanted` says the panel is gone.
 * A read refused because the session ended is made again once the person logs in again: the
 * service goes on with the import meanwhile.
 */
async function finished(
  id: string,
  wanted: () => boolean,
): Promise<ImportDto | 'slow' | undefined> {
  const until = Date.now() + FOLLOW_MS;
  for (;;) {
    if (!wanted()) return undefined;
    const found = await readInSession(() => unwrap(getImport({ path: { importId: id } })));
    if (!wanted()) return undefined;
    if (found.state === 'completed') return found;
    if (Date.now() > until) return 'slow';
    await sleep(POLL_MS);
  }
}

/**
 * An image fetched by the service from a URL into this gallery: a bulk import of one row, so it
 * is fetched, checked and processed as every import is, and shows on the Jobs view.
 */
export function UrlImport({
  productId,
  onImported,
}: {
  productId: string;
  /** Shows the gallery with the image; resolves once it does. */
  onImported: () => Promise<void>;
}) {
  const [url, setUrl] = useState('');
  const [status, setStatus] = useState<{ kind: 'info' | 'success' | 'error'; text: string }>();
  const [busy, setBusy] = useState(false);
  /**
   * The last import's Idempotency-Key and URL, while it may be sent again: imported again after
   * no answer (or a failure on the service's side), the same key gets the first import, not a
   * second image.
   */
  const attempt = useRef<{ key: string; url: string } | undefined>(undefined);
  // Cleared when the panel leaves the page: an import it follows is no longer asked after.
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const wanted = () => mounted.current;

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setStatus({ kind: 'info', text: 'The service is fetching the image…' });
    let started: ImportDto;
    const wantedUrl = url.trim();
    const key = attempt.current?.url === wantedUrl ? attempt.current.key : newIdempotencyKey();
    attempt.current = { key, url: wantedUrl };
    try {
      started = await unwrap(
        createImport({
          body: { rows: [{ product_id: productId, url: wantedUrl }] },
          headers: { 'Idempotency-Key': key },
        }),
      );
    } catch (error) {
      if (!retryable(error)) attempt.current = undefined;
      if (wanted()) {
        setStatus({
          kind: 'error',
          text:
            error instanceof CallFailed && error.status === 0
              ? 'No answer came from the service: the import may have started (the Jobs page shows it). Import again to see; it is never made twice.'
              : `Not imported: ${messageOf(error)}`,
        });
        setBusy(false);
      }
      return;
    }
    // Started: importing the same URL again is another import.
    attempt.current = undefined;
    try {
      const done = await finished(started.id, wanted);
      if (done === undefined) return;
      if (done === 'slow') {
        setStatus({ kind: 'info', text: 'Still importing: the Jobs page shows when it is done.' });
      } else if (done.counts.failed > 0) {
        const rows = await readInSession(() =>
          unwrap(listImportRows({ path: { importId: done.id }, query: { status: 'failed' } })),
        );
        const problem = rows.items[0]?.problem;
        setStatus({
          kind: 'error',
          text: `Not imported: ${problem?.message ?? 'the row failed.'}`,
        });
      } else {
        // Said once the gallery shows the image, not before.
        await onImported();
        setStatus({ kind: 'success', text: 'Imported: the image is now in the gallery.' });
        setUrl('');
      }
    } catch (error) {
      // The service has the import and goes on with it whatever became of the panel's reads.
      if (wanted()) {
        setStatus({
          kind: 'error',
          text: `The import was started, but how it ends could not be read: ${messageOf(error)} The Jobs page shows it.`,
        });
        // The image may be in the gallery already.
        await onImported();
      }
    } finally {
      if (wanted()) setBusy(false);
    }
  };

  return (
    <section class="panel" aria-labelledby="url-import-title">
      <h2 id="url-import-title">Import from a URL</h2>
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="import-url">Image URL</label>
          <input
            id="import-url"
            type="url"
            required
            maxLength={2048}
            placeholder="https://images.example.com/front.jpg"
            value={url}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
        </div>
        <div class="actions">
          <button type="submit" class="button" disabled={busy}>
            {busy ? 'Importing…' : 'Import'}
          </button>
          <Link class="subtle-link" to="/jobs">
            Imports on the Jobs page
          </Link>
        </div>
        {/* Both live regions are always in the page, so that what is put in them is said: the
            import's progress politely, its failure at once, as an error. */}
        <p class={`status-line status-${status?.kind ?? 'info'}`}>
          <span role="status">{status?.kind === 'error' ? '' : status?.text}</span>
          <span role="alert">{status?.kind === 'error' ? status.text : ''}</span>
        </p>
      </form>
    </section>
  );
}
