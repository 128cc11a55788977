import { useEffect, useRef, useState } from 'preact/hooks';
import {
  addUploads,
  cancelId,
  clearFinished,
  finished,
  cancelUpload,
  notStored,
  retryUpload,
  uploadsOf,
  watchUploads,
  type Upload,
} from '../uploads';
import { sessionPerson } from '../session';
import { quoted } from '../format';

const STATE_TEXT: Record<Upload['state'], string> = {
  waiting: 'Waiting',
  sending: 'Sending',
  processing: 'Processing',
  done: 'Uploaded',
  failed: 'Refused',
  interrupted: 'Not stored',
  cancelled: 'Cancelled',
};

/**
 * Several images at once: dropped on the zone or chosen with its file input. Each is sent on its
 * own (one after the other, so the gallery takes them in the order given) with a progress bar
 * for its bytes, then the service's answer: uploaded, or the problem in words. One waiting its
 * turn can be cancelled. The uploads are the gallery's (see uploads.ts), not the panel's: they go
 * on while the person opens another view, and show here again, answered or not, once back.
 */
export function UploadZone({ productId }: { productId: string }) {
  const uploads = uploadsOf(sessionPerson(), productId);
  const [rows, setRows] = useState(uploads.rows);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  /** What a screen reader is told of the uploads (a retry, those stored), beside what it sees. */
  const [said, setSaid] = useState('');

  useEffect(() => {
    setRows(uploads.rows);
    let before = uploads.rows;
    return watchUploads(uploads, {
      rows: (next) => {
        const stored = next.filter(
          (u) => u.state === 'done' && before.find((b) => b.key === u.key)?.state !== 'done',
        );
        before = next;
        if (stored.length > 0)
          setSaid(`Uploaded ${stored.map((u) => `${quoted(u.name)}`).join(', ')}.`);
        setRows(next);
      },
    });
  }, [uploads]);

  const add = (files: File[]) => addUploads(uploads, files);

  const cancel = (key: number) => {
    // Its button goes with it: the focus goes to the panel's heading, not lost.
    if (cancelUpload(uploads, key)) document.getElementById('upload-title')?.focus();
  };

  const retry = (upload: Upload) => {
    retryUpload(uploads, upload.key);
    // Its button goes: the focus goes to the panel's heading, not lost, and the retry is said.
    document.getElementById('upload-title')?.focus();
    setSaid(`Sending ${quoted(upload.name)} again.`);
  };

  /** Each upload not stored, sent again (or cancelled): in the order they were queued. */
  const all = (what: 'retry' | 'cancel') => {
    const keys = notStored(uploads);
    for (const key of keys) {
      if (what === 'retry') retryUpload(uploads, key);
      else cancelUpload(uploads, key);
    }
    document.getElementById('upload-title')?.focus();
    setSaid(`${what === 'retry' ? 'Sending again' : 'Cancelled'} ${keys.length} uploads.`);
  };
  const left = rows.filter((u) => u.left && u.state === 'interrupted').length;
  const retryable = rows.filter((u) => u.state === 'interrupted').length;

  const clear = () => {
    clearFinished(uploads);
    // The button goes with the rows: the focus goes to the panel's heading.
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
      <p class="visually-hidden" role="status">
        {said}
      </p>
      {left > 0 && (
        <p class="notice notice-info" data-testid="uploads-left">
          {left === 1 ? '1 file' : `${left} files`} you queued here before the page was left{' '}
          {left === 1 ? 'was' : 'were'} not stored. Retry sends them again (a file the service took
          already is never stored twice); Cancel forgets them.
        </p>
      )}
      {retryable > 1 && (
        <div class="actions">
          <button type="button" class="button small" onClick={() => all('retry')}>
            Retry all {retryable}
          </button>
          <button type="button" class="button small subtle" onClick={() => all('cancel')}>
            Cancel all {retryable}
          </button>
        </div>
      )}
      {rows.some(finished) && (
        <button type="button" class="button small subtle" onClick={clear}>
          Clear finished uploads
        </button>
      )}
      {rows.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {rows.map((u) => (
            <li key={u.key} class={`upload-row upload-${u.state}`} data-upload={u.name}>
              <bdi class="upload-name">{u.name}</bdi>
              <progress
                max={u.total}
                value={u.state === 'done' ? u.total : u.sent}
                aria-label={`Upload of ${u.name}`}
              />
              <span class="upload-state">{u.outcome ?? STATE_TEXT[u.state]}</span>
              {(u.state === 'waiting' || u.state === 'interrupted') && (
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
                  <bdi>{u.name}</bdi>: {u.message}
                </p>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
