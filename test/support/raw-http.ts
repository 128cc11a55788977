import { connect, type Socket } from 'node:net';
import { parseRawResponse, type RawResponse } from './slow-client';

/** What a server answered to a request whose body was still (mostly) unsent. */
export interface EarlyAnswer {
  status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: string;
  /** Body bytes handed to the socket before the answer was complete (an upper bound on what the server could have read). */
  bodyBytesSent: number;
  /** Whether the server ended the connection after answering (within CLOSE_GRACE_MS). */
  closedByServer: boolean;
}

export interface BodyRequest {
  port: number;
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** The Content-Length announced. */
  contentLength: number;
  /** The body's first bytes (a JSON prefix, a multipart part header). */
  prefix: Buffer | string;
  /**
   * After the prefix: `hold` sends nothing more and keeps the connection open; `flood` writes
   * filler as fast as the socket accepts it, up to the announced length, until the server answers.
   */
  rest: 'hold' | 'flood';
  /** With `flood`: the body's last bytes (closing the JSON), after the filler. */
  suffix?: Buffer | string;
  /** How long to wait for an answer before failing. */
  timeoutMs?: number;
}

/** 1 MiB of base64 alphabet: the filler of every flooded body (shared, never copied). */
const FILLER = Buffer.alloc(1024 * 1024, 'A');
/** Past the service's linger (UNREAD_BODY_LINGER_MS, 5 s), after which it drops a connection still sending. */
const CLOSE_GRACE_MS = 10_000;

function head(request: BodyRequest): string {
  const headers = { host: '127.0.0.1', ...request.headers };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return [
    `${request.method} ${request.path} HTTP/1.1`,
    ...lines,
    `content-length: ${request.contentLength}`,
    '',
    '',
  ].join('\r\n');
}

/**
 * Writes filler, then `suffix`, until `total` body bytes are out or `stop()` says so, honouring
 * back-pressure.
 */
function flood(
  socket: Socket,
  state: { sent: number },
  total: number,
  suffix: Buffer,
  stop: () => boolean,
): void {
  const fillerEnd = total - suffix.length;
  const pump = (): void => {
    while (!stop() && state.sent < total && !socket.destroyed) {
      const n = Math.min(FILLER.length, fillerEnd - state.sent);
      const chunk = n <= 0 ? suffix : n === FILLER.length ? FILLER : FILLER.subarray(0, n);
      state.sent += chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

/**
 * Sends a request over a raw socket with a large announced body of which only `prefix` (and,
 * with `flood`, as much filler as the socket takes) is sent, and resolves with the answer the
 * server gave while the body was incomplete. Rejects if no answer comes within `timeoutMs`: a
 * server that waits for the body before deciding never answers a held body.
 */
export function sendWithLargeBody(request: BodyRequest): Promise<EarlyAnswer> {
  const timeoutMs = request.timeoutMs ?? 15_000;
  const prefix = Buffer.from(request.prefix);
  return new Promise((resolve, reject) => {
    const socket = connect(request.port, '127.0.0.1');
    const state = { sent: prefix.length };
    let data = Buffer.alloc(0);
    let answer: (RawResponse & { bodyBytesSent: number }) | undefined;
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      clearTimeout(grace);
      socket.destroy();
      if (answer) resolve({ ...answer, closedByServer: closed });
      else
        reject(
          new Error(
            `no complete answer (${data.length} bytes received, closed: ${closed}) while ` +
              `${state.sent} of ${request.contentLength} body bytes were sent`,
          ),
        );
    };
    const timer = setTimeout(finish, timeoutMs);
    let grace: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      socket.write(head(request));
      socket.write(prefix);
      if (request.rest === 'flood') {
        const suffix = Buffer.from(request.suffix ?? '');
        flood(socket, state, request.contentLength, suffix, () => answer !== undefined);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const parsed = answer ? undefined : parseRawResponse(data);
      if (!parsed) return;
      answer = { ...parsed, bodyBytesSent: state.sent };
      clearTimeout(timer);
      grace = setTimeout(finish, CLOSE_GRACE_MS);
    });
    // The server may reset a connection whose unread body is still arriving: that is the point.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
  });
}
