import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { HttpSocket } from './socket-problem';

/**
 * HTTP/1.1 pipelining: a client may send requests one after another without waiting, and has the
 * answers in the same order. Node hands over every request of a packet at once, and holds each
 * answer, made whole, until those before it are written: 400 requests for the 1 MB API document
 * in one 14 KB packet, from a client that read nothing, held 800 MB of memory until the
 * connection was cut. A pipelined request now waits, before anything of its route runs (the first
 * hook), until the answers before it have gone out to the connection (Node then gives its answer
 * the socket): a client that does not read holds one answer, as one that does not pipeline.
 */
export function servePipelinedInTurn(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const socket = request.raw.socket as HttpSocket | null;
    const ahead = socket?._httpMessage;
    if (!socket || !ahead || ahead === reply.raw) return done();
    const waiting = waitingOn(socket);
    if (mayStartNow(socket, ahead, waiting.size, reply.raw)) return done();
    // On the next tick: Node gives the socket while the answer before finishes, before that
    // answer's own 'finish' listeners (its access log line and metrics) have run.
    const go = () => {
      waiting.delete(drop);
      process.nextTick(done);
    };
    // Its client gone before its turn: nothing of it runs, nor is answered (the answers of every
    // request left waiting, made at once for nobody, were the memory this saves).
    const drop = () => {
      reply.raw.off('socket', go);
      reply.hijack();
    };
    waiting.add(drop);
    reply.raw.once('socket', go);
  });
}

/** Per connection, how to drop each request waiting its turn on it. */
const waitingByConnection = new WeakMap<Socket, Set<() => void>>();

/**
 * The requests waiting on `socket`, dropped together when it closes: one listener per connection
 * however many wait (one each would pile up hundreds on a socket, and Node warns of a leak).
 */
function waitingOn(socket: Socket): Set<() => void> {
  let waiting = waitingByConnection.get(socket);
  if (!waiting) {
    const drops = new Set<() => void>();
    socket.once('close', () => drops.forEach((drop) => drop()));
    waitingByConnection.set(socket, drops);
    waiting = drops;
  }
  return waiting;
}

/** Per connection, whether a request started before the answer ahead of it went out. */
const startedEarly = new WeakSet<Socket>();

/**
 * Whether a request may start although the answer ahead of it still holds the connection: when
 * that answer is all written (`end()`), only not yet out (Node's 'finish'), none waits before
 * this request, and no other started so. A keep-alive client sends its next request as soon as
 * it has read an answer, most often before Node's 'finish' of it: made to wait, every such
 * request lost a turn of the event loop (cached transforms 15 % fewer a second). At most two
 * answers are then held for a client that reads nothing, and requests still run in their order.
 */
function mayStartNow(
  socket: Socket,
  ahead: ServerResponse,
  waiting: number,
  answer: ServerResponse,
): boolean {
  if (!ahead.writableEnded || waiting > 0 || startedEarly.has(socket)) return false;
  startedEarly.add(socket);
  answer.once('socket', () => startedEarly.delete(socket));
  return true;
}
