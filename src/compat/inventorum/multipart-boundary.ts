import type { IncomingMessage } from 'node:http';

/** RFC 2046 allows 70; longer values are not boundaries any client makes. */
const MAX_BOUNDARY_LENGTH = 200;
const BOUNDARY_PARAMETER = /;\s*boundary\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)/gi;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Every `boundary` parameter of a Content-Type header, unquoted, in order. */
export function boundaryParameters(contentType: string): string[] {
  return [...contentType.matchAll(BOUNDARY_PARAMETER)].map(([, value]) =>
    value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value,
  );
}

/**
 * How far into the body the first delimiter line is looked for when the Content-Type has several
 * boundary parameters: the preamble a body may have before it (RFC 2046 §5.1.1, ignored by the
 * receiver) is rarely more than a line ("This is a multi-part message in MIME format."). A body
 * whose delimiter comes later is left to the multipart reader with its header as sent.
 */
export const MAX_PREAMBLE_BYTES = 8 * 1024;

/**
 * The candidate whose delimiter line comes first in the body: `--<boundary>` at the start of the
 * body or of a line (after CRLF: what precedes it is the preamble, RFC 2046 §5.1.1), then the end
 * of that line (CRLF, transport padding) or `--` (an empty form). Undefined when none does.
 */
export function chooseBoundary(candidates: readonly string[], head: Buffer): string | undefined {
  let chosen: { boundary: string; at: number } | undefined;
  for (const boundary of candidates) {
    const at = firstDelimiterLine(head, boundary);
    if (at !== undefined && (chosen === undefined || at < chosen.at)) chosen = { boundary, at };
  }
  return chosen?.boundary;
}

/** Where the first delimiter line of `boundary` starts in `head`, if it has one. */
function firstDelimiterLine(head: Buffer, boundary: string): number | undefined {
  if (boundary === '') return undefined;
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  for (let at = head.indexOf(delimiter); at !== -1; at = head.indexOf(delimiter, at + 1)) {
    const startsLine = at === 0 || (head[at - 2] === 0x0d && head[at - 1] === 0x0a);
    const next = head.subarray(at + delimiter.length, at + delimiter.length + 2).toString('latin1');
    const endsDelimiter =
      next === '\r\n' || next === '--' || next.startsWith(' ') || next.startsWith('\t');
    if (startsLine && endsDelimiter) return at;
  }
  return undefined;
}

/** The Content-Type with its boundary parameters replaced by this one. */
export function withBoundary(contentType: string, boundary: string): string {
  const rest = contentType.replace(BOUNDARY_PARAMETER, '').trim();
  const value = TOKEN.test(boundary) ? boundary : `"${boundary.replace(/(["\\])/g, '\\$1')}"`;
  return `${rest}; boundary=${value}`;
}

/** How many bytes of the body tell these candidates apart. */
export function bytesToTell(candidates: readonly string[]): number {
  return Math.max(0, ...candidates.map((b) => b.length)) + 4;
}

/**
 * A Content-Type with several `boundary` parameters (curl's, when a command sets the header
 * with a boundary of its own and also sends `-F` parts: curl appends the boundary it really uses)
 * is narrowed to the one whose delimiter line comes first in the body, after any preamble, read
 * from the body's first bytes (up to {@link MAX_PREAMBLE_BYTES} and a delimiter), which are put
 * back for the multipart reader. A header with one boundary, or none, is left as it is; so is one
 * where no candidate fits (the multipart reader then refuses the body).
 */
export async function settleBoundary(raw: IncomingMessage): Promise<void> {
  const contentType = raw.headers['content-type'];
  if (contentType === undefined) return;
  const parameters = boundaryParameters(contentType);
  if (parameters.length < 2) return;
  const candidates = parameters.filter((b) => b.length <= MAX_BOUNDARY_LENGTH);
  const tell = bytesToTell(candidates);
  // Enough once a delimiter line is found with `tell` bytes after it: no other can start before.
  const enough = (head: Buffer) =>
    head.length >= tell &&
    chooseBoundary(candidates, head.subarray(0, head.length - tell)) !== undefined;
  const head = await peekBody(raw, MAX_PREAMBLE_BYTES + tell, enough);
  const chosen = chooseBoundary(candidates, head);
  if (chosen !== undefined) raw.headers['content-type'] = withBoundary(contentType, chosen);
}

/**
 * At least `bytes` first bytes of a request's body (fewer when the body is shorter, or the request
 * ends or fails first, or once `enough` says the bytes so far are), left unread: what is read is
 * put back (`unshift`) before anyone else reads the body, and before the stream could end.
 */
export async function peekBody(
  raw: IncomingMessage,
  bytes: number,
  enough: (head: Buffer) => boolean = () => false,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < bytes && !(chunks.length > 0 && enough(Buffer.concat(chunks)))) {
    // All that is buffered, or null when nothing is.
    const chunk = raw.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      length += chunk.length;
    } else if (raw.complete || raw.destroyed || raw.readableEnded) {
      break;
    } else {
      await somethingHappens(raw);
    }
  }
  const head = Buffer.concat(chunks);
  // In the same tick as the last read: an end it noticed is not emitted while data is buffered.
  // (A stream without `complete`, as app.inject's, may have ended already: nothing can go back.)
  if (head.length > 0 && !raw.readableEnded) raw.unshift(head);
  return head;
}

/** Resolves on the next data, end, close or error of the stream. */
function somethingHappens(raw: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    const events = ['readable', 'end', 'close', 'error'] as const;
    const done = () => {
      for (const event of events) raw.off(event, done);
      resolve();
    };
    for (const event of events) raw.on(event, done);
  });
}
