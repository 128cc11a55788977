import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';

interface Watched {
  requestId: string;
  socket: Socket;
  /** The socket's `bytesWritten` when last looked at. */
  written: number;
  /** When it was first seen stalled, since when nothing moved. */
  since: number | undefined;
}

const logger = new Logger('HTTP');

/**
 * Cuts responses whose client has taken none of their bytes for `timeoutMs` (HTTP_SEND_TIMEOUT_MS,
 * as nginx's `send_timeout`): the connection's buffers full (Node's `writableNeedDrain`) and not
 * one byte more handed to it since. Without it, a client that stops reading held its connection,
 * the file or storage stream behind the answer (on S3, a pooled connection) and their buffers for
 * as long as it liked: Node's own timeouts are for requests still arriving. A slow reader that
 * keeps reading lets more bytes be written, and is never cut; the time the service takes to make
 * an answer is no stall (nothing waits to be sent).
 *
 * One timer looks at every response in flight, each quarter of the timeout (a stall is cut after
 * 1 to 1.25 times it): a timer per request cost /media a fifth of its throughput
 * (`npm run bench`). Written here, as no maintained library watches a response's progress.
 */
export class SendStallWatch {
  private readonly watched = new Map<ServerResponse, Watched>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly timeoutMs: number) {}

  watch(requestId: string, response: ServerResponse, socket: Socket): void {
    this.watched.set(response, { requestId, socket, written: -1, since: undefined });
    // Let go at once when done: the map is not to keep a request (and what it holds) alive.
    const done = () => this.watched.delete(response);
    response.once('finish', done);
    response.once('close', done);
    this.timer ??= setInterval(() => this.lookAtAll(), Math.max(250, this.timeoutMs / 4)).unref();
  }

  private lookAtAll(): void {
    const now = Date.now();
    for (const [response, watched] of this.watched) {
      if (response.writableFinished || watched.socket.destroyed) {
        this.watched.delete(response);
      } else if (this.stalled(watched, now)) {
        logger.log(
          { request_id: watched.requestId },
          'Response not read in time; connection closed',
        );
        watched.socket.destroy();
        this.watched.delete(response);
      }
    }
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Whether nothing has moved for the timeout, the buffers full all along. */
  private stalled(watched: Watched, now: number): boolean {
    const { socket } = watched;
    const written = socket.bytesWritten;
    if (!socket.writableNeedDrain || written !== watched.written) {
      watched.written = written;
      watched.since = undefined;
      return false;
    }
    watched.since ??= now;
    return now - watched.since >= this.timeoutMs;
  }
}
