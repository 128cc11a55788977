import type { IncomingMessage } from 'node:http';

/** RFC 2046 allows 70; longer values are not boundaries any client makes. */
const MAX_BOUNDARY_LENGTH = 200;
/**
 * The most distinct boundary parameters told apart by the body (curl sends two): a header naming
 * more is left as it is, to the multipart reader. Each candidate costs a scan of the body's head,
 * and 1,330 of them (a 23 KB header) over 8 KiB of `--a`, scanned again as each piece came, held
 * the event loop for seconds a request.
 */
const MAX_CANDIDATES = 4;
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
 * of that line (CRLF, transport padding) or `--` (an empty form). Undefined when none does. On a
 * tie, the first candidate.
 */
export function chooseBoundary(candidates: readonly string[], head: Buffer): string | undefined {
  return new BoundaryScan(candidates).scan(head, true);
}

/**
 * {@link chooseBoundary} over a head that grows: each call looks at the line starts not yet
 * decided only (the bytes before them are looked at once in all), so a body arriving a byte at a
 * time costs no more than one arriving at once.
 */
export class BoundaryScan {
  private readonly delimiters: { boundary: string; bytes: Buffer }[];
  private readonly longest: number;
  /** The first line start not yet passed. */
  private lineStart = 0;
  /** The line start last compared with the delimiters (a line start is compared once). */
  private compared = -1;
  /** Where the search for the end of the line at `lineStart` goes on from. */
  private searchFrom = 0;

  constructor(candidates: readonly string[]) {
    this.delimiters = candidates
      .filter((boundary) => boundary !== '')
      .map((boundary) => ({ boundary, bytes: Buffer.from(`--${boundary}`, 'latin1') }));
    this.longest = Math.max(0, ...this.delimiters.map((d) => d.bytes.length));
  }

  /**
   * The boundary chosen, once a line start with a delimiter line is found before any other;
   * undefined while none is (yet). `ended`: no more bytes will come, so a line start too near the
   * end for a delimiter is not one; otherwise it waits for them.
   */
  scan(head: Buffer, ended = false): string | undefined {
    while (this.lineStart < head.length) {
      const at = this.lineStart;
      // Every candidate's delimiter and the two bytes after it, or no more to come.
      if (!ended && head.length < at + this.longest + 2) return undefined;
      if (this.compared !== at) {
        const found = this.delimiters.find(({ bytes }) => delimiterLineAt(head, at, bytes));
        if (found) return found.boundary;
        this.compared = at;
      }
      const crlf = head.indexOf('\r\n', Math.max(at, this.searchFrom), 'latin1');
      if (crlf === -1) {
        // Its CR may have come without its LF: looked at again with the next bytes.
        this.searchFrom = Math.max(at, head.length - 1);
        return undefined;
      }
      this.lineStart = this.searchFrom = crlf + 2;
    }
    return undefined;
  }
}

/** Whether `head` has a delimiter line of `delimiter` at `at`, a line start. */
function delimiterLineAt(head: Buffer, at: number, delimiter: Buffer): boolean {
  const end = at + delimiter.length;
  if (end + 2 > head.length || !head.subarray(at, end).equals(delimiter)) return false;
  const [first, second] = [head[end], head[end + 1]];
  return (
    (first === 0x0d && second === 0x0a) ||
    (first === 0x2d && second === 0x2d) ||
    first === 0x20 ||
    first === 0x09
  );
}

/** The Content-Type with its boundary parameters replaced by this one. */
export function withBoundary(contentType: string, boundary: string): string {
  const rest = contentType.replace(BOUNDARY_PARAMETER, '').trim();
  const value = TOKEN.test(boundary) ? boundary : `"${boundary.replace(/(["\\])/g, '\\$1')}"`;
  return `${rest}; boundary=${value}`;
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
  const candidates = [...new Set(parameters)].filter((b) => b.length <= MAX_BOUNDARY_LENGTH);
  if (candidates.length === 0 || candidates.length > MAX_CANDIDATES) return;
  const scan = new BoundaryScan(candidates);
  let chosen: string | undefined;
  // Enough once a delimiter line is found with every candidate's delimiter decided at its start.
  const limit = MAX_PREAMBLE_BYTES + Math.max(...candidates.map((b) => b.length)) + 4;
  const head = await peekBody(raw, limit, (bytes) => (chosen = scan.scan(bytes)) !== undefined);
  chosen ??= scan.scan(head, true);
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
  while (length < bytes) {
    // All that is buffered, or null when nothing is.
    const chunk = raw.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      length += chunk.length;
      if (enough(chunks.length === 1 ? chunk : Buffer.concat(chunks, length))) break;
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
