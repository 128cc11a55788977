import { useRef, useState } from 'preact/hooks';
import { uploadProductImage } from '@sdk';
import {
  type CallFailed,
  doneAnswerLost,
  messageOf,
  newIdempotencyKey,
  retryable,
  unwrap,
} from '../api';
import { sessionWho, whenSessionOf } from '../session';
import { fetchWithUploadProgress } from '../xhr-fetch';

interface Upload {
  key: number;
  /** The upload's Idempotency-Key: the same on each Retry, so the file is never stored twice. */
  idempotencyKey: string;
  file: File;
  name: string;
  sent: number;
  total: number;
  state: 'waiting' | 'sending' | 'processing' | 'done' | 'failed' | 'interrupted' | 'cancelled';
  message?: string;
  /** An interrupted upload: what became of it, in a word. */
  outcome?: string;
}

const STATE_TEXT: Record<Upload['state'], string> = {
  waiting: 'Waiting',
  sending: 'Sending',
  processing: 'Processing',
  done: 'Uploaded',
  failed: 'Refused',
  interrupted: 'Not stored',
  cancelled: 'Cancelled',
};

let nextKey = 1;

/**
 * What an upload that may be sent again (its failure says nothing of the file) came to: no
 * answer (it may have been stored), the service failing on its side (or timing out), or not
 * stored (the service busy or limiting the rate, the session ended).
 */
function outcomeOf(error: CallFailed): { outcome: string; message: string } {
  if (error.status === 0) {
    return {
      outcome: 'No answer',
      message:
        'No answer came from the service: it may have stored the file, or not. Retry sends it again, and it is never stored twice.',
    };
  }
  if ((error.status >= 500 && error.status !== 503) || error.status === 408) {
    return {
      outcome: 'Service failed',
      message: `The service failed on its side: ${error.message}`,
    };
  }
  if (error.status === 401) {
    return {
      outcome: 'Not stored',
      message: 'The session ended before the service took the file. Retry once logged in again.',
    };
  }
  return { outcome: 'Not stored', message: error.message };
}

const cancelId = (key: number) => `cancel-upload-${key}`;

/**
 * Uploads added in this tab and not yet answered, whichever gallery they went to: they go on when
 * the person opens another view, and are lost only when the page itself goes (closed, reloaded,
 * left). Until they are answered, the browser asks before the page goes.
 */
let unanswered = 0;
window.addEventListener('beforeunload', (event) => {
  if (unanswered === 0) return;
  event.preventDefault();
  // Browsers before 2023 (Chrome 119) ask only when returnValue is set.
  event.returnValue = '';
});

/**
 * What a title from a file's name leaves out: control characters, line and paragraph separators,
 * the noncharacters U+FFFE and U+FFFF and lone surrogates (the service refuses them, and the
 * upload with them), and the invisible bidi controls, zero-width space, word joiners and BOM (as
 * the service leaves them out of file names). A file's name can hold any of them.
 */
const NOT_IN_A_TITLE =
  /[\p{Cc}\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u2028\u2029\ufffe\uffff\uD800-\uDFFF]/gu;

/**
 * A title from a file's name: "blue-shoe_front.jpg" → "blue shoe front". Composed (NFC: macOS
 * gives names decomposed), and cut at 255 characters as the service counts them (code points),
 * never inside one.
 */
function titleFrom(fileName: string): string {
  const title = fileName
    .normalize('NFC')
    .replace(/\.[^.]+$/, '')
    .replace(NOT_IN_A_TITLE, '')
    .replace(/[-_]+/g, ' ')
    .trim();
  return [...title].slice(0, 255).join('').trim();
}

/**
 * Several images at once: dropped on the zone or chosen with its file input. Each is sent on its
 * own (one after the other, so the gallery takes them in the order given) with a progress bar
 * for its bytes, then the service's answer: uploaded, or the problem in words. One waiting its
 * turn can be cancelled.
 */
export function UploadZone({
  productId,
  onUploaded,
  onSending,
}: {
  productId: string;
  /** An upload was stored. */
  onUploaded: () => void;
  /** How many uploads are on their way now (their bytes out, no answer yet). */
  onSending?: (count: number) => void;
}) {
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [over, setOver] = useState(false);
  const queue = useRef<Promise<void>>(Promise.resolve());
  const input = useRef<HTMLInputElement>(null);
  /** The uploads not yet answered, and those of them already sent (or being sent). */
  const pending = useRef(new Set<number>());
  const started = useRef(new Set<number>());

  /** The upload counts as answered, once (it ends, or is cancelled before its turn). */
  const answered = (key: number) => {
    if (pending.current.delete(key)) unanswered--;
    if (started.current.delete(key)) onSending?.(started.current.size);
  };

  const update = (key: number, change: Partial<Upload>) =>
    setUploads((all) => all.map((u) => (u.key === key ? { ...u, ...change } : u)));

  const send = async (file: File, key: number, idempotencyKey: string) => {
    // While the person logs in again, the queue waits for them; once the console is no longer
    // theirs (they logged out), what waited is not sent.
    const who = sessionWho();
    if (who === undefined || !(await whenSessionOf(who))) {
      if (pending.current.has(key)) update(key, { state: 'cancelled' });
      answered(key);
      return;
    }
    // Cancelled while it waited its turn.
    if (!pending.current.has(key)) return;
    started.current.add(key);
    onSending?.(started.current.size);
    // Its Cancel button goes: a focus on it goes to the panel's heading, not lost.
    if (document.activeElement?.id === cancelId(key)) {
      document.getElementById('upload-title')?.focus();
    }
    update(key, { state: 'sending' });
    try {
      await unwrap(
        uploadProductImage({
          path: { productId },
          body: { image: file, title: titleFrom(file.name) },
          headers: { 'Idempotency-Key': idempotencyKey },
          // The generated client builds the request; this sends it and reports its progress.
          fetch: fetchWithUploadProgress((sent, total) =>
            update(key, { sent, total, state: sent < total ? 'sending' : 'processing' }),
          ),
        }),
      );
      update(key, { state: 'done' });
      onUploaded();
    } catch (error) {
      if (doneAnswerLost(error)) {
        // A retry of an upload that was stored, whose first answer was lost.
        update(key, { state: 'done', message: 'Stored; the service’s first answer was lost.' });
        onUploaded();
      } else if (retryable(error)) {
        update(key, { state: 'interrupted', ...outcomeOf(error) });
        // With no answer, the file may have been stored: the gallery is read again.
        if (error.status === 0) onUploaded();
      } else {
        update(key, { state: 'failed', message: messageOf(error) });
      }
    } finally {
      answered(key);
    }
  };

  /**
   * Only before its turn: once its bytes go out, the service may have them all (the last ones in
   * flight when the person asks), and store the image whatever the console then does.
   */
  const cancel = (key: number) => {
    if (started.current.has(key) || !pending.current.has(key)) return;
    answered(key);
    update(key, { state: 'cancelled' });
    // Its button goes with it: the focus goes to the panel's heading, not lost.
    document.getElementById('upload-title')?.focus();
  };

  /** Queues files, each under its key (a retried one keeps its row). */
  const enqueue = (added: { file: File; key: number; idempotencyKey: string }[]) => {
    for (const { key } of added) pending.current.add(key);
    unanswered += added.length;
    for (const { file, key, idempotencyKey } of added) {
      queue.current = queue.current.then(() => send(file, key, idempotencyKey));
    }
  };

  const add = (files: File[]) => {
    const added = files.map((file) => ({
      file,
      key: nextKey++,
      idempotencyKey: newIdempotencyKey(),
    }));
    setUploads((all) => [
      ...all,
      ...added.map(({ file, key, idempotencyKey }) => ({
        key,
        idempotencyKey,
        file,
        name: file.name,
        sent: 0,
        total: file.size || 1,
        state: 'waiting' as const,
      })),
    ]);
    enqueue(added);
  };

  /**
   * Sends again a file the service was too busy for, failed on, or did not answer: the same row,
   * with the same Idempotency-Key (a file stored before gets its first answer, not a copy).
   */
  const retry = (upload: Upload) => {
    update(upload.key, { state: 'waiting', sent: 0, message: undefined, outcome: undefined });
    enqueue([{ file: upload.file, key: upload.key, idempotencyKey: upload.idempotencyKey }]);
    // Its button goes: the focus goes to the panel's heading, not lost.
    document.getElementById('upload-title')?.focus();
  };

  const drop = (event: DragEvent) => {
    if (!event.dataTransfer?.types.includes('Files')) return;
    event.preventDefault();
    setOver(false);
    add([...event.dataTransfer.files]);
  };
  const dragOver = (event: DragEvent) => {
    if (!event.dataTransfer?.types.includes('Files')) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    setOver(true);
  };

  return (
    <section class="panel upload" aria-labelledby="upload-title">
      <h2 id="upload-title" tabIndex={-1}>
        Add images
      </h2>
      <div
        class={`dropzone${over ? ' dropzone-over' : ''}`}
        data-testid="dropzone"
        onDragOver={dragOver}
        onDragLeave={() => setOver(false)}
        onDrop={drop}
      >
        <svg aria-hidden="true" viewBox="0 0 24 24" width="28" height="28">
          <path
            d="M12 16V4m0 0l-4 4m4-4l4 4M4 16v3a1 1 0 001 1h14a1 1 0 001-1v-3"
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-linecap="round"
          />
        </svg>
        <p>Drop image files here, or</p>
        <input
          id="upload-files"
          ref={input}
          class="file-input"
          type="file"
          multiple
          accept="image/*,.svg,.avif,.bmp"
          onChange={(e) => {
            add([...(e.currentTarget.files ?? [])]);
            e.currentTarget.value = '';
          }}
        />
        <label class="button" for="upload-files">
          Choose files
        </label>
        <p class="hint">JPEG, PNG, WebP, GIF, AVIF, BMP or SVG.</p>
      </div>
      {uploads.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {uploads.map((u) => (
            <li key={u.key} class={`upload-row upload-${u.state}`} data-upload={u.name}>
              <span class="upload-name">{u.name}</span>
              <progress
                max={u.total}
                value={u.state === 'done' ? u.total : u.sent}
                aria-label={`Upload of ${u.name}`}
              />
              <span class="upload-state">{u.outcome ?? STATE_TEXT[u.state]}</span>
              {u.state === 'waiting' && (
                <button
                  id={cancelId(u.key)}
                  type="button"
                  class="button small subtle"
                  aria-label={`Cancel upload of ${u.name}`}
                  onClick={() => cancel(u.key)}
                >
                  Cancel
                </button>
              )}
              {u.state === 'interrupted' && (
                <button
                  type="button"
                  class="button small"
                  aria-label={`Retry upload of ${u.name}`}
                  onClick={() => retry(u)}
                >
                  Retry
                </button>
              )}
              {u.message && (
                <p class="upload-error" role="alert">
                  {u.name}: {u.message}
                </p>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
