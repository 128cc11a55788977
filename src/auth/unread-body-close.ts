import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * How long a connection closed on an unread body stays half-open, so the client reads the answer:
 * nginx's lingering_timeout. A client still sending when this runs out gets a reset, and one
 * that had not read its answer yet (a busy machine: 2 s was too short at a load of 25) loses it.
 * Nothing is read meanwhile, so a longer linger costs one idle socket and the kernel buffers it
 * already holds, for a fixed time that no sending extends (no byte cap is needed, unlike nginx,
 * which reads and discards); a client can hold a connection longer than this anyway, with
 * slow headers (HTTP_HEADERS_TIMEOUT_MS).
 */
export const UNREAD_BODY_LINGER_MS = 5000;

/**
 * Ends a connection without reading the rest of its request's body.
 *
 * Node ends the socket of a `Connection: close` response with `destroySoon()`: FIN, then destroy
 * as soon as the response is flushed. With body bytes still arriving, that destroy makes the
 * kernel answer with a reset, which can erase the response from the client's receive buffer
 * before the client has read it (RFC 9112, section 9.6): a busy client then sees "connection
 * reset" instead of its 401. The usual cure, a lingering close, reads and discards the body for
 * a while, which is what closing was meant to avoid. Here the socket sends its FIN and stops
 * reading instead: the unread body stays in kernel buffers, TCP flow control stops the sender,
 * the answer still travels the other way, and the socket is destroyed after `lingerMs`.
 *
 * Node offers no option for this; replacing destroySoon on this one socket is the narrowest way
 * to change how Node ends it.
 */
export function closeWithoutReadingBody(socket: Socket | undefined, lingerMs: number): void {
  if (!socket || typeof socket.destroySoon !== 'function') return;
  socket.destroySoon = function endUnread(this: Socket): void {
    this.end();
    // Node resumes the request (to discard its body) just before calling destroySoon, and the
    // socket with it a tick later: pause once that has happened.
    setImmediate(() => this.pause());
    const timer = setTimeout(() => this.destroy(), lingerMs);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/**
 * A response sent before its request's body has arrived (a 401 from the pre-body check, a 404,
 * any early refusal) closes the connection: otherwise Node would read the whole body, however
 * large, only to discard it and keep the connection open for the next request.
 */
export function closeConnectionsOnUnreadBodies(fastify: FastifyInstance): void {
  fastify.addHook('onSend', async (request, reply) => {
    // `complete` is false until the last body byte was parsed (undefined for app.inject()).
    if (request.raw.complete !== false) return;
    void reply.header('connection', 'close');
    closeWithoutReadingBody(request.raw.socket, UNREAD_BODY_LINGER_MS);
  });
}
