import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** An HTTP/1.1 response read off a raw socket (header names lower-cased). */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A complete response with a Content-Length at the start of `data`, or undefined. */
export function parseRawResponse(data: Buffer): RawResponse | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  if (data.length < end + 4 + length) return undefined;
  const body = data.subarray(end + 4, end + 4 + length).toString('utf8');
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

/**
 * A client on a raw socket, for what fetch cannot do: send a request as slowly as it likes, stop
 * in the middle, or hang up at a chosen moment, and see exactly what the server answered and when
 * it closed the connection.
 */
export class RawClient {
  private data = Buffer.alloc(0);
  /** Body and header bytes handed to the socket. */
  sent = 0;
  /** When the connection closed (Date.now()), once it has. */
  closedAt?: number;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => (this.data = Buffer.concat([this.data, chunk])));
    // A server that cuts a connection mid-request may reset it: that is what is tested.
    socket.on('error', () => undefined);
    // Not once(): it would reject on the socket's 'error' (a reset) instead of waiting for close.
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  /** Writes if the connection is still open; resolves when the socket accepts more. */
  async write(chunk: string | Buffer): Promise<void> {
    if (this.socket.destroyed || this.closedAt) return;
    this.sent += Buffer.byteLength(chunk);
    if (!this.socket.write(chunk)) {
      // A reset (EPIPE) ends the wait like a close: the server stopped reading.
      await Promise.race([once(this.socket, 'drain').catch(() => undefined), this.closed]);
    }
  }

  /** Sends `bytes` one at a time, `everyMs` apart, until they are sent or the server closes. */
  async trickle(bytes: string | Buffer, everyMs: number): Promise<void> {
    const all = Buffer.from(bytes);
    for (let i = 0; i < all.length && this.closedAt === undefined && !this.answer(); i++) {
      await this.write(all.subarray(i, i + 1));
      await sleep(everyMs);
    }
  }

  /** Sends `bytes` at about `bytesPerSecond`, in chunks, until done or the server answers. */
  async sendAt(bytes: Buffer, bytesPerSecond: number, chunk = 1024): Promise<void> {
    for (let i = 0; i < bytes.length && this.closedAt === undefined && !this.answer(); i += chunk) {
      await this.write(bytes.subarray(i, i + chunk));
      await sleep((chunk / bytesPerSecond) * 1000);
    }
  }

  /** The first complete response received so far. */
  answer(): RawResponse | undefined {
    return parseRawResponse(this.data);
  }

  /** Everything received so far. */
  received(): Buffer {
    return this.data;
  }

  /** Waits for a complete response or the close of the connection, at most `timeoutMs`. */
  async answered(timeoutMs: number): Promise<RawResponse | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !this.answer() && this.closedAt === undefined) {
      await sleep(20);
    }
    return this.answer();
  }

  /** Hangs up at once. */
  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolves true once `check` holds, false at the deadline (polling). */
export async function eventually(check: () => boolean, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(25);
  }
  return check();
}

/** A multipart/form-data body with one file part named `image` (and text fields first). */
export function multipartBody(
  file: Buffer,
  fields: Record<string, string> = {},
  boundary = 'slowclientboundary',
): { contentType: string; body: Buffer; head: Buffer; tail: Buffer } {
  const text = Object.entries(fields).map(
    ([name, value]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  const head = Buffer.from(
    `${text.join('')}--${boundary}\r\nContent-Disposition: form-data; name="image"; ` +
      `filename="image.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([head, file, tail]),
    head,
    tail,
  };
}

/** The request line and headers of a request with a body of `length` bytes. */
export function requestHead(
  method: string,
  path: string,
  headers: Record<string, string>,
  length: number,
): string {
  const lines = Object.entries({ host: '127.0.0.1', ...headers, 'content-length': String(length) });
  return `${method} ${path} HTTP/1.1\r\n${lines.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
}
