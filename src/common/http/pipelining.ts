import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { redactUrl } from '../logging/redact';
import { connectionState, type ConnectionState, type HttpSocket } from './socket-problem';

const logger = new Logger('HTTP');

/** nginx's 499 (client closed request): the status of a request whose client left unanswered. */
export const CLIENT_CLOSED = 499;

/**
 * HTTP/1.1 pipelining: a client may send requests one after another without waiting, and has the
 * answers in the same order. Node hands over every request of a packet at once, and holds each
 * answer, made whole, until those before it are written: 400 requests for the 1 MB API document
 * in one 14 KB packet, from a client that read nothing, held 800 MB of memory until the
 * connection was cut. A pipelined request now waits, before anything of its route runs (the first
 * hook), until the answers before it have gone out to the connection (Node then gives its answer
 * the socket): a client that does not read holds one answer, as one that does not pipeline.
 */
export function servePipelinedInTurn(
  fastify: FastifyInstance,
  onDropped: (request: FastifyRequest, reply: FastifyReply) => void = () => undefined,
): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const socket = request.raw.socket as HttpSocket | null;
    const ahead = socket?._httpMessage;
    if (!socket || !ahead || ahead === reply.raw) return done();
    const state = connectionState(socket);
    const waiting = waitingOn(socket, state);
    if (mayStartNow(state, ahead, waiting.size, reply.raw)) return done();
    // On the next tick: Node gives the socket while the answer before finishes, before that
    // answer's own 'finish' listeners (its access log line and metrics) have run.
    const go = () => {
      waiting.delete(drop);
      process.nextTick(done);
    };
    // Its client gone before its turn: nothing of it runs, nor is answered (the answers of every
    // request left waiting, made at once for nobody, were the memory this saves). No hook after
    // this one sees it, the access log's nor the metrics': its line and its count (499) are here.
    const drop = () => {
      reply.raw.off('socket', go);
      reply.hijack();
      const fields = {
        request_id: request.id,
        method: request.method,
        url: redactUrl(request.url),
        status: CLIENT_CLOSED,
      };
      logger.log(fields, 'Pipelined request dropped: its client left before its turn');
      onDropped(request, reply);
    };
    waiting.add(drop);
    reply.raw.once('socket', go);
  });
}

/**
 * The requests waiting on `socket`, dropped together when it closes: one listener per connection
 * however many wait (one each would pile up hundreds on a socket, and Node warns of a leak).
 */
function waitingOn(socket: Socket, state: ConnectionState): Set<() => void> {
  if (!state.waiting) {
    const drops = new Set<() => void>();
    socket.once('close', () => drops.forEach((drop) => drop()));
    state.waiting = drops;
  }
  return state.waiting;
}

/**
 * Whether a request may start although the answer ahead of it still holds the connection: when
 * that answer is all written (`end()`), only not yet out (Node's 'finish'), none waits before
 * this request, and no other started so. A keep-alive client sends its next request as soon as
 * it has read an answer, most often before Node's 'finish' of it: made to wait, every such
 * request lost a turn of the event loop (cached transforms 15 % fewer a second). At most two
 * answers are then held for a client that reads nothing, and requests still run in their order.
 */
function mayStartNow(
  state: ConnectionState,
  ahead: ServerResponse,
  waiting: number,
  answer: ServerResponse,
): boolean {
  if (!ahead.writableEnded || waiting > 0 || state.startedEarly) return false;
  state.startedEarly = true;
  answer.once('socket', () => (state.startedEarly = false));
  return true;
}
