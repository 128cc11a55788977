import { createHash } from 'node:crypto';
import { ReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { send, type SendOptions } from '@fastify/send';
import { ifRangeHolds, usableByteRange } from './byte-ranges';
import { parseHttpDate, parseModifiedSince } from './http-date';
import type { MediaAnswer, MediaRequest } from './media-answer';
import { CONTENT_TYPES, deliveryHeaders } from './storage-provider';

/**
 * What @fastify/send decides for us: conditional requests, byte ranges, HEAD and the stream of
 * the file. It does not choose the types or the caching (deliveryHeaders does), nor look for an
 * index file in a folder.
 */
const SEND_OPTIONS: SendOptions = {
  acceptRanges: true,
  cacheControl: false,
  contentType: false,
  etag: true,
  lastModified: true,
  index: false,
};

/** A file that lies, through a symlink, outside the folder /media serves, or is gone. */
class NotServable extends Error {}

const isMissing = (error: unknown): boolean =>
  ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');

/**
 * Answers a request for the file of `key` below `root`: 200 with the file, 206 for one byte range,
 * 304 when the client's copy is current, 412 for a failed If-Match/If-Unmodified-Since, 416 for a
 * range past the end, and not found for anything but a regular file whose real path is below the
 * root (a folder, a missing file, a symlink leading out). `key` must already be a servable key
 * (storage-keys.ts): send resolves it below `root` and refuses `..` again, but the shape is ours
 * to check.
 *
 * The ETag is `"<size>-<mtime>-<key>"` in hex (fileEtag), strong (keys are never rewritten with
 * other bytes). Size and time alone, as send writes them, could be alike for two files one URL
 * serves (a transform URL's formats, chosen by Accept, made in the same millisecond): a client or
 * cache holding one was answered 304 for the other. send compares its own weak `W/"<size>-<mtime>"`
 * only: the tags a request names are written so for this key's file (asSendTag), any other
 * ETag as one that matches nothing, so that a range request conditional on the ETag we gave is
 * still served as a range.
 */
export async function answerMediaRequest(
  root: string,
  key: string,
  request: MediaRequest,
): Promise<MediaAnswer> {
  const known = `${root}\0${key}`;
  const notModified = notModifiedByKnownValidators(known, key, request);
  if (notModified) return notModified;
  // Most requests carry no If-Range: they do not wait on a promise for it.
  const decided = isDateIfRange(request.headers['if-range'])
    ? await withDateIfRangeDecided(root, key, request)
    : request;
  let result;
  try {
    result = await send(asSendRequest(decided, key), key, {
      ...SEND_OPTIONS,
      root,
      onFile: (path) => assertBelowRoot(root, path),
    });
  } catch (error) {
    if (error instanceof NotServable) return { kind: 'not_found' };
    throw error;
  }
  if (result.type === 'file') {
    const notModified = result.statusCode === 304;
    if (notModified) result.stream.destroy();
    // Deleted between send's stat and the open (an image's files removed as it is fetched): the
    // same 404 as a file missing at the stat, where the stream failing unread was a 500.
    else if (!(await opened(result.stream))) return { kind: 'not_found' };
    const sent = withOwnEtag(result.headers, key);
    remember(known, sent);
    return {
      kind: 'file',
      status: result.statusCode,
      headers: mediaHeaders(sent, contentTypeOf(key), !notModified),
      body: notModified ? undefined : result.stream,
    };
  }
  result.stream.destroy();
  if (result.statusCode === 412) return { kind: 'precondition_failed' };
  if (result.statusCode === 416 && hasSuffixRange(request) && !wholeFileAsked(request)) {
    // A suffix longer than the file is the whole file (RFC 9110 14.1.2), which send refuses.
    return answerMediaRequest(root, key, withRange(request, 'bytes=0-'));
  }
  if (result.statusCode === 416) {
    return { kind: 'range_not_satisfiable', contentRange: result.headers['Content-Range'] };
  }
  // Missing, a folder (send would redirect), unreadable: the same 404 as an unknown key.
  return { kind: 'not_found' };
}

/**
 * Whether the file stream send made could be opened: once it is, the open file is read whole
 * whatever happens to its path. Destroyed when not. (HEAD's stream is no file's: nothing to open.)
 */
function opened(stream: Readable): Promise<boolean> {
  if (!(stream instanceof ReadStream) || !stream.pending) return Promise.resolve(true);
  return new Promise((resolve) => {
    const ready = () => {
      stream.off('error', failed);
      resolve(true);
    };
    const failed = () => {
      stream.off('ready', ready);
      stream.destroy();
      resolve(false);
    };
    stream.once('ready', ready);
    stream.once('error', failed);
  });
}

/** Whether the request's usable Range is a suffix (`-500`) of more than nothing. */
function hasSuffixRange(request: MediaRequest): boolean {
  return /^bytes=-\d*[1-9]\d*$/.test(usableByteRange(request.headers.range) ?? '');
}

/** Whether the request asks for `bytes=0-`, as {@link withRange} writes it after a suffix. */
const wholeFileAsked = (request: MediaRequest): boolean => request.headers.range === 'bytes=0-';

const withRange = (request: MediaRequest, range: string): MediaRequest => ({
  ...request,
  headers: { ...request.headers, range },
});

const contentTypeOf = (key: string): string =>
  CONTENT_TYPES[extname(key).slice(1)] ?? 'application/octet-stream';

/**
 * The validators send gave a file lately (its Last-Modified, and its ETag as we give it), by
 * `<root>\0<key>`, each with the time until which they are trusted: a second, as the real path.
 * A client's copy is checked with a stat per request otherwise, which was most of what a `304`
 * cost; a file's validators change only if its bytes do, which the service never does to a key.
 */
const knownValidators = new Map<string, { lastModified: string; etag: string; until: number }>();
const KNOWN_VALIDATORS_KEPT_MS = 1000;
const KNOWN_VALIDATORS_KEPT_MAX = 10_000;

function remember(known: string, sent: Record<string, string | number>): void {
  const [lastModified, etag] = [sent['Last-Modified'], sent.ETag];
  if (typeof lastModified !== 'string' || typeof etag !== 'string') return;
  if (knownValidators.size >= KNOWN_VALIDATORS_KEPT_MAX) knownValidators.clear();
  knownValidators.set(known, {
    lastModified,
    etag,
    until: performance.now() + KNOWN_VALIDATORS_KEPT_MS,
  });
}

/**
 * The `304` send would answer, from validators it gave within the second, for the plain case
 * only: a GET or HEAD whose If-None-Match is exactly the ETag we sent, without If-Match,
 * If-Unmodified-Since or `Cache-Control: no-cache`. Anything else is left to send.
 */
function notModifiedByKnownValidators(
  known: string,
  key: string,
  { method, headers }: MediaRequest,
): MediaAnswer | undefined {
  const ifNoneMatch = headers['if-none-match'];
  if (
    ifNoneMatch === undefined ||
    (method !== 'GET' && method !== 'HEAD') ||
    headers['if-match'] !== undefined ||
    headers['if-unmodified-since'] !== undefined ||
    headers['cache-control']?.includes('no-cache')
  ) {
    return undefined;
  }
  const validators = knownValidators.get(known);
  if (!validators || validators.until <= performance.now()) return undefined;
  if (ifNoneMatch !== validators.etag) return undefined;
  // As send writes a 304's: Accept-Ranges, Last-Modified, ETag (its Content-* removed).
  const sent = {
    'Accept-Ranges': 'bytes',
    'Last-Modified': validators.lastModified,
    ETag: validators.etag,
  };
  return { kind: 'file', status: 304, headers: mediaHeaders(sent, contentTypeOf(key), false) };
}

/** send's headers (or the storage's) with our validator, type and delivery headers. */
export function mediaHeaders(
  sent: Record<string, string | number>,
  contentType: string,
  withBody: boolean,
): Record<string, string | number> {
  const delivery = deliveryHeaders(contentType);
  const { ETag: etag, ...rest } = sent;
  const headers: Record<string, string | number> = {
    ...rest,
    'Cache-Control': delivery.cacheControl,
    'X-Content-Type-Options': 'nosniff',
  };
  // No ETag field at all rather than an empty one, where the store gave none.
  if (etag) headers.ETag = String(etag).replace(/^W\//, '');
  if (withBody) headers['Content-Type'] = contentType;
  if (delivery.contentDisposition) headers['Content-Disposition'] = delivery.contentDisposition;
  if (delivery.contentSecurityPolicy) {
    headers['Content-Security-Policy'] = delivery.contentSecurityPolicy;
  }
  return headers;
}

/**
 * The request as send reads it (its method and headers), with a strong If-Range ETag written as
 * the weak one send compares it with, and without a Range that is not one (usableByteRange), or
 * whose If-Range is a weak tag, which never matches (RFC 9110 13.1.5) but would match send's. A
 * date field that is not an HTTP-date is left out (RFC 9110 13.1.3, 13.1.4: it is ignored), where
 * send would read `2099` as a year, and so is an If-Modified-Since later than now (13.1.3: an
 * invalid date), which send answered 304; one that is, is written in the form send reads right.
 */
function asSendRequest(request: MediaRequest, key: string): Readable {
  const ifRange = request.headers['if-range'];
  const weakIfRange = typeof ifRange === 'string' && ifRange.trim().startsWith('W/');
  const headers: IncomingHttpHeaders = {
    ...request.headers,
    range: weakIfRange ? undefined : usableByteRange(request.headers.range),
  };
  // Not an HTTP-date (or, If-Modified-Since, a date still to come): undefined, which send reads
  // as no such field.
  const modifiedSince = request.headers['if-modified-since'];
  if (modifiedSince !== undefined) {
    headers['if-modified-since'] = asImfDate(parseModifiedSince(modifiedSince));
  }
  const unmodifiedSince = request.headers['if-unmodified-since'];
  if (unmodifiedSince !== undefined) {
    headers['if-unmodified-since'] = asImfDate(parseHttpDate(unmodifiedSince));
  }
  if (typeof ifRange === 'string' && ifRange.startsWith('"')) {
    headers['if-range'] = asSendTag(ifRange.trim(), key) ?? NO_ETAG;
  }
  const ifMatch = request.headers['if-match'];
  if (typeof ifMatch === 'string' && ifMatch.trim() !== '*') {
    // If-Match compares strongly (RFC 9110 13.1.1): a weak tag never matches, where send's
    // comparison takes `W/"…"` for its own ETag. `""` is no ETag send gives: it fails.
    headers['if-match'] = asSendTags(ifMatch, key, (tag) => tag.startsWith('"'));
  }
  const ifNoneMatch = request.headers['if-none-match'];
  if (typeof ifNoneMatch === 'string' && ifNoneMatch.trim() !== '*') {
    // Compared weakly (RFC 9110 13.1.2): `W/` or not, the tag of this key's file.
    headers['if-none-match'] = asSendTags(ifNoneMatch, key, () => true);
  }
  return { method: request.method, headers } as unknown as Readable;
}

/** An ETag send never gives: compared with it, nothing matches. */
const NO_ETAG = '""';

/** A list of ETags as send reads them (asSendTag), of those `kept`; NO_ETAG where none is left. */
function asSendTags(list: string, key: string, kept: (tag: string) => boolean): string {
  const tags = list
    .split(',')
    .map((tag) => tag.trim())
    .filter(kept)
    .flatMap((tag) => asSendTag(tag, key) ?? []);
  return tags.length > 0 ? tags.join(', ') : NO_ETAG;
}

/**
 * The ETag of the file at `key` as we give it (`"<size>-<mtime>-<key>"`, hex): send's size and
 * modification time, and a mark of the key, so that two files a URL may serve (the formats of a
 * transform URL) never share one however alike their size and time.
 */
export function fileEtag(key: string, size: number, mtimeMs: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}-${keyMark(key)}"`;
}

/** 48 bits of the key's SHA-256, in hex. */
function keyMark(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/** send's headers with the ETag we give for its `W/"<size>-<mtime>"` (fileEtag). */
function withOwnEtag(
  sent: Record<string, string | number>,
  key: string,
): Record<string, string | number> {
  const etag = sent.ETag;
  if (typeof etag !== 'string') return sent;
  return { ...sent, ETag: `${etag.replace(/^W\//, '').slice(0, -1)}-${keyMark(key)}"` };
}

/**
 * A client's ETag (`W/` or not) as send compares it, `W/"<size>-<mtime>"`, where it is one we
 * gave for the file at `key`; undefined for any other (another key's, another store's).
 */
function asSendTag(tag: string, key: string): string | undefined {
  const strong = tag.startsWith('W/') ? tag.slice(2) : tag;
  const mark = `-${keyMark(key)}"`;
  if (!strong.startsWith('"') || !strong.endsWith(mark) || strong.length <= mark.length) {
    return undefined;
  }
  return `W/${strong.slice(0, -mark.length)}"`;
}

function asImfDate(time: number | undefined): string | undefined {
  return time === undefined ? undefined : new Date(time).toUTCString();
}

/**
 * The request with its Range decided where If-Range is a date: send serves the range for any date
 * not before the file's Last-Modified, where RFC 9110 (13.1.5) asks for that very date. The file's
 * time is read here (a stat, for this rare header alone) and the Range kept only on a match.
 */
async function withDateIfRangeDecided(
  root: string,
  key: string,
  request: MediaRequest,
): Promise<MediaRequest> {
  const ifRange = request.headers['if-range'];
  if (!isDateIfRange(ifRange)) return request;
  const { range: _range, 'if-range': _ifRange, ...rest } = request.headers;
  const modified = await stat(join(root, key)).then(
    (file) => file.mtime,
    () => undefined,
  );
  const holds = ifRangeHolds(ifRange, { etag: undefined, lastModified: modified });
  // Holding, the Range is served as asked; not, the whole file (send then reads no If-Range).
  return { ...request, headers: holds ? { ...rest, range: request.headers.range } : rest };
}

/** Whether an If-Range is a date (not an entity tag), which send does not read right. */
function isDateIfRange(ifRange: string | string[] | undefined): ifRange is string {
  return typeof ifRange === 'string' && !/^\s*(?:W\/)?"/.test(ifRange);
}

/** The real root, resolved once: the folder itself may be a symlink. */
const realRoots = new Map<string, Promise<string>>();

/**
 * Paths found below their root lately (`<root>\0<path>`), each with the time until which that is
 * trusted: a file asked for again within a second is not resolved again. Every /media request paid
 * a `realpath` (as costly as the `stat` send makes); a file the service stored does not become a
 * symlink, and one made so by hand is refused a second later at most.
 */
const belowRoot = new Map<string, number>();
const BELOW_ROOT_KEPT_MS = 1000;
const BELOW_ROOT_KEPT_MAX = 10_000;

/**
 * Refuses a file whose real path (symlinks followed) is not below the real root: a symlink placed
 * in the storage folder must not serve a file from elsewhere on the disk.
 */
async function assertBelowRoot(root: string, path: string): Promise<void> {
  const now = performance.now();
  const checked = `${root}\0${path}`;
  if ((belowRoot.get(checked) ?? 0) > now) return;
  let realRoot = realRoots.get(root);
  if (!realRoot) {
    realRoot = realpath(root);
    realRoots.set(root, realRoot);
    realRoot.catch(() => realRoots.delete(root));
  }
  // Gone since send's stat (deleted meanwhile): not found, as it would have been a moment before.
  const [base, real] = await Promise.all([
    realRoot,
    realpath(path).catch((error: unknown) => {
      throw isMissing(error) ? new NotServable() : error;
    }),
  ]);
  const rel = relative(base, real);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw new NotServable();
  if (belowRoot.size >= BELOW_ROOT_KEPT_MAX) belowRoot.clear();
  belowRoot.set(checked, now + BELOW_ROOT_KEPT_MS);
}
