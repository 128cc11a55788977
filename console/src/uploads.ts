// A gallery's uploads in this tab live here, not in its upload panel: they go on while the person
// opens another view, and the panel and gallery shown for that product again (by the same person)
// show them, with their answers, and the images stored meanwhile. Those not answered yet are kept
// in the browser too (upload-store.ts), and offered to the same person by the next page.
import { uploadProductImage } from '@sdk';
import {
  type CallFailed,
  doneAnswerLost,
  messageOf,
  newIdempotencyKey,
  retryable,
  unwrap,
} from './api';
import { currentToken, sessionPerson, wasRenewed, whenSessionOf } from './session';
import { forget, forgetAllBut, forgetAllOf, keep, keptFor, thisTab } from './upload-store';
import { fetchWithUploadProgress } from './xhr-fetch';

export interface Upload {
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
  /** When it was queued (milliseconds since the epoch). */
  queuedAt: number;
  /** Queued before the page was left (reloaded, closed), and not sent since. */
  left?: boolean;
}

/** What is told to those who watch a gallery's uploads while they are shown. */
export interface UploadWatcher {
  /** The rows changed (a new array each time). */
  rows?: (rows: readonly Upload[]) => void;
  /**
   * An upload was stored (or may have been: no answer came); resolves once the gallery shows what
   * the service holds now.
   */
  stored?: () => Promise<void> | void;
  /** How many uploads are on their way now (their bytes out, no answer yet). */
  sending?: (count: number) => void;
}

/** One person's uploads to one gallery. */
export interface GalleryUploads {
  rows: readonly Upload[];
  /** Each upload is sent after the one before: the gallery takes them in the order given. */
  queue: Promise<void>;
  /** The uploads not yet answered, and those of them already sent (or being sent). */
  pending: Set<number>;
  started: Set<number>;
  watchers: Set<UploadWatcher>;
  productId: string;
  /** Whose they are (undefined: no one is logged in, and nothing is kept). */
  person: string | undefined;
}

let nextKey = 1;
const galleries = new Map<string, GalleryUploads>();

/** The uploads of `person` (the one the console is for, see personOf) to the product's gallery. */
export function uploadsOf(person: string | undefined, productId: string): GalleryUploads {
  const id = JSON.stringify([person ?? '', productId]);
  let found = galleries.get(id);
  if (!found) {
    found = {
      rows: [],
      queue: Promise.resolve(),
      pending: new Set(),
      started: new Set(),
      watchers: new Set(),
      productId,
      person,
    };
    galleries.set(id, found);
    void restore(found);
  }
  return found;
}

/** The upload as kept in the browser until the service answers for it (upload-store.ts). */
function keepUpload(uploads: GalleryUploads, upload: Upload, started = false): void {
  if (uploads.person === undefined) return;
  void keep({
    id: upload.idempotencyKey,
    person: uploads.person,
    productId: uploads.productId,
    file: upload.file,
    queuedAt: upload.queuedAt,
    started,
    tab: thisTab,
  });
}

/**
 * The person's uploads to the gallery queued by a page that is gone (reloaded, closed, crashed)
 * and never answered: shown as not stored, each to be sent again (with its Idempotency-Key) or
 * cancelled. This page keeps them from now on.
 */
async function restore(uploads: GalleryUploads): Promise<void> {
  if (uploads.person === undefined) return;
  const kept = await keptFor(uploads.person, uploads.productId);
  if (kept.length === 0) return;
  const left = kept.map((k): Upload => ({
    key: nextKey++,
    idempotencyKey: k.id,
    file: k.file,
    name: k.file.name,
    sent: 0,
    total: k.file.size || 1,
    state: 'interrupted',
    outcome: k.started ? 'No answer' : 'Not sent',
    queuedAt: k.queuedAt,
    left: true,
  }));
  setRows(uploads, [...left, ...uploads.rows]);
  for (const [i, upload] of left.entries()) keepUpload(uploads, upload, kept[i].started);
}

/** Watches the uploads until the returned function is called (the watcher is no longer shown). */
export function watchUploads(uploads: GalleryUploads, watcher: UploadWatcher): () => void {
  uploads.watchers.add(watcher);
  return () => {
    uploads.watchers.delete(watcher);
  };
}

const tell = (uploads: GalleryUploads, what: (watcher: UploadWatcher) => void) => {
  for (const watcher of [...uploads.watchers]) what(watcher);
};

function setRows(uploads: GalleryUploads, rows: readonly Upload[]): void {
  uploads.rows = rows;
  tell(uploads, (watcher) => watcher.rows?.(rows));
}

function update(uploads: GalleryUploads, key: number, change: Partial<Upload>): void {
  setRows(
    uploads,
    uploads.rows.map((u) => (u.key === key ? { ...u, ...change } : u)),
  );
}

/** How long an upload's row waits for the gallery to show its image before it says Uploaded. */
const SHOWN_WAIT_MS = 10_000;

/**
 * Tells the watchers an upload was stored; resolves once the gallery shown (if it is) shows it,
 * or after SHOWN_WAIT_MS should its read not answer.
 */
function stored(uploads: GalleryUploads): Promise<void> {
  const shown: Promise<void>[] = [];
  tell(uploads, (watcher) => shown.push(Promise.resolve(watcher.stored?.())));
  return Promise.race([
    Promise.all(shown).then(() => undefined),
    new Promise<void>((resolve) => setTimeout(resolve, SHOWN_WAIT_MS)),
  ]);
}
const sending = (uploads: GalleryUploads) =>
  tell(uploads, (watcher) => watcher.sending?.(uploads.started.size));

/**
 * Uploads added in this tab and not yet answered, whichever gallery they went to: they go on when
 * the person opens another view, and stop only when the page itself goes (closed, reloaded, left;
 * the next page offers them again, see restore). Until they are answered, the browser asks
 * before the page goes.
 */
let unanswered = 0;
window.addEventListener('beforeunload', (event) => {
  if (unanswered === 0) return;
  event.preventDefault();
  // Browsers before 2023 (Chrome 119) ask only when returnValue is set.
  event.returnValue = '';
});

/** The upload counts as answered, once (it ends, or is cancelled before its turn). */
function answered(uploads: GalleryUploads, key: number): void {
  if (uploads.pending.delete(key)) unanswered--;
  if (uploads.started.delete(key)) sending(uploads);
}

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

export const cancelId = (key: number) => `cancel-upload-${key}`;

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
 * Whether an upload refused for its token (401) may go again at once, with the session's token
 * now: the person changed their password while it was sent (which ends every token issued before
 * it, and answers this tab a new one), and the console is still theirs. A session that ended
 * otherwise (a logout elsewhere, an expiry) leaves it to be retried by the person.
 */
function tokenRenewed(error: unknown, sentWith: string | undefined, person: string | undefined) {
  const now = currentToken();
  return (
    retryable(error) &&
    error.status === 401 &&
    sentWith !== undefined &&
    wasRenewed(sentWith) &&
    now !== undefined &&
    now !== sentWith &&
    sessionPerson() === person
  );
}

/**
 * Sends one upload and takes in its answer; once again, with the same Idempotency-Key, should the
 * session's token have been changed while it was sent (see {@link tokenRenewed}).
 */
async function sendNow(uploads: GalleryUploads, upload: Upload, again = false): Promise<void> {
  const { key, file } = upload;
  const token = currentToken();
  const person = sessionPerson();
  try {
    await unwrap(
      uploadProductImage({
        path: { productId: uploads.productId },
        body: { image: file, title: titleFrom(file.name) },
        headers: { 'Idempotency-Key': upload.idempotencyKey },
        auth: (scheme) => (scheme.scheme === 'bearer' ? token : undefined),
        // The generated client builds the request; this sends it and reports its progress.
        fetch: fetchWithUploadProgress((sent, total) =>
          update(uploads, key, { sent, total, state: sent < total ? 'sending' : 'processing' }),
        ),
      }),
    );
    void forget(upload.idempotencyKey);
    // Said once the gallery shows the image, not before (the queue goes on meanwhile).
    void stored(uploads).then(() => update(uploads, key, { state: 'done' }));
  } catch (error) {
    if (!again && tokenRenewed(error, token, person)) {
      await sendNow(uploads, upload, true);
    } else if (doneAnswerLost(error)) {
      // A retry of an upload that was stored, whose first answer was lost.
      const message = 'Stored; the service’s first answer was lost.';
      void forget(upload.idempotencyKey);
      void stored(uploads).then(() => update(uploads, key, { state: 'done', message }));
    } else if (retryable(error)) {
      update(uploads, key, { state: 'interrupted', ...outcomeOf(error) });
      // With no answer, the file may have been stored: the gallery is read again.
      if (error.status === 0) void stored(uploads);
    } else {
      void forget(upload.idempotencyKey);
      update(uploads, key, { state: 'failed', message: messageOf(error) });
    }
  }
}

/** An upload's turn in the queue. */
async function send(uploads: GalleryUploads, upload: Upload): Promise<void> {
  const { key } = upload;
  // While the person logs in again, the queue waits for them; once the console is no longer
  // theirs (they logged out), what waited is not sent.
  const person = sessionPerson();
  if (person === undefined || !(await whenSessionOf(person))) {
    if (uploads.pending.has(key)) update(uploads, key, { state: 'cancelled' });
    void forget(upload.idempotencyKey);
    answered(uploads, key);
    return;
  }
  // Cancelled while it waited its turn.
  if (!uploads.pending.has(key)) return;
  uploads.started.add(key);
  sending(uploads);
  keepUpload(uploads, upload, true);
  // Its Cancel button goes: a focus on it goes to the panel's heading, not lost.
  if (document.activeElement?.id === cancelId(key)) {
    document.getElementById('upload-title')?.focus();
  }
  update(uploads, key, { state: 'sending' });
  try {
    await sendNow(uploads, upload);
  } finally {
    answered(uploads, key);
  }
}

/** Queues uploads (a retried one keeps its row). */
function enqueue(uploads: GalleryUploads, added: readonly Upload[]): void {
  for (const { key } of added) uploads.pending.add(key);
  unanswered += added.length;
  for (const upload of added) {
    uploads.queue = uploads.queue.then(() => send(uploads, upload));
  }
}

/** Adds files to the gallery's uploads: each a row, sent in its turn. */
export function addUploads(uploads: GalleryUploads, files: readonly File[]): void {
  const now = Date.now();
  const added = files.map((file, i): Upload => ({
    key: nextKey++,
    idempotencyKey: newIdempotencyKey(),
    file,
    name: file.name,
    sent: 0,
    total: file.size || 1,
    state: 'waiting',
    // Within the millisecond, in the order given (the order they are offered in again).
    queuedAt: now + i / files.length,
  }));
  setRows(uploads, [...uploads.rows, ...added]);
  for (const upload of added) keepUpload(uploads, upload);
  enqueue(uploads, added);
}

/**
 * Only before its turn: once its bytes go out, the service may have them all (the last ones in
 * flight when the person asks), and store the image whatever the console then does. True when
 * it was cancelled.
 */
export function cancelUpload(uploads: GalleryUploads, key: number): boolean {
  const upload = uploads.rows.find((u) => u.key === key);
  const waiting = !uploads.started.has(key) && uploads.pending.has(key);
  if (!upload || !(waiting || upload.state === 'interrupted')) return false;
  answered(uploads, key);
  void forget(upload.idempotencyKey);
  update(uploads, key, { state: 'cancelled', message: undefined, outcome: undefined });
  return true;
}

/**
 * Sends again a file the service was too busy for, failed on, or did not answer: the same row,
 * with the same Idempotency-Key (a file stored before gets its first answer, not a copy).
 */
export function retryUpload(uploads: GalleryUploads, key: number): void {
  const upload = uploads.rows.find((u) => u.key === key);
  if (!upload || upload.state !== 'interrupted') return;
  const again = { ...upload, state: 'waiting' as const, sent: 0 };
  update(uploads, key, { state: 'waiting', sent: 0, message: undefined, outcome: undefined });
  enqueue(uploads, [again]);
}

/** The uploads not stored (interrupted, or left by a page before this one): their keys. */
export const notStored = (uploads: GalleryUploads): number[] =>
  uploads.rows.filter((u) => u.state === 'interrupted').map((u) => u.key);

/** An upload that is over: stored, refused or cancelled (not one that may be sent again). */
export const finished = (upload: Upload): boolean =>
  upload.state === 'done' || upload.state === 'failed' || upload.state === 'cancelled';

/** Takes the finished uploads' rows away, so that they do not pile up over a day's work. */
export function clearFinished(uploads: GalleryUploads): void {
  setRows(
    uploads,
    uploads.rows.filter((u) => !finished(u)),
  );
}

/**
 * The person logs out: the files they queued and the service never took are forgotten by the
 * browser too (the next person on it starts with none of theirs).
 */
export function forgetKeptUploads(): void {
  const person = sessionPerson();
  if (person !== undefined) void forgetAllOf(person);
}

/**
 * Someone logged in, and the service said who they are: the files other people kept on this
 * browser are forgotten (theirs are not left readable in its storage for the next person).
 */
export function forgetOthersKeptUploads(): void {
  const person = sessionPerson();
  if (person !== undefined) void forgetAllBut(person);
}
