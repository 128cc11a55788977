import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PROBLEM_CONTENT_TYPE, type Problem } from '../errors/problem-details';
import { REQUEST_ID_HEADER } from '../logging/request-id';
import { API_CSP, securityHeaders } from './security-headers';

/** Security headers as helmet sets them (with the API's CSP), collected once. */
let helmetHeadersSet: Record<string, string> | undefined;
function helmetHeaders(): Record<string, string> {
  if (helmetHeadersSet) return helmetHeadersSet;
  const headers: Record<string, string> = {};
  const collector = {
    setHeader: (name: string, value: string) => (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  securityHeaders({} as IncomingMessage, collector as unknown as ServerResponse, () => undefined);
  headers['content-security-policy'] = API_CSP;
  return (helmetHeadersSet = headers);
}

/**
 * A problem+json answer written by hand on a connection the service is about to close, for errors
 * Node meets before there is a reply to send it through (no hook runs for them): the headers
 * every other answer carries, the request id in the header and the body, `Connection: close`.
 */
export function writeProblemOnSocket(socket: Socket, problem: Problem, requestId: string): void {
  const payload = Buffer.from(JSON.stringify({ ...problem.body, request_id: requestId }));
  const headers = {
    ...helmetHeaders(),
    ...problem.headers,
    'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
    'content-length': String(payload.length),
    [REQUEST_ID_HEADER]: requestId,
    'cache-control': 'no-store',
    connection: 'close',
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  const reason = STATUS_CODES[problem.status] ?? '';
  socket.write(`HTTP/1.1 ${problem.status} ${reason}\r\n${head.join('')}\r\n`);
  socket.write(payload);
}

/**
 * A connection with the answer Node is writing on it (Node's own property), whose request carries
 * its id (requestIdFor).
 */
export type HttpSocket = Socket & {
  _httpMessage?: (ServerResponse & { req?: IncomingMessage & { id?: string } }) | null;
};

/**
 * What the service keeps of a connection while it serves it, in one record (one WeakMap lookup,
 * gone with the connection): its pipelined requests waiting their turn (pipelining.ts) and its
 * refusal waiting for the answer before it (refusalWaits).
 */
export interface ConnectionState {
  /** How to drop each request waiting its turn, all dropped together when it closes. */
  waiting?: Set<() => void>;
  /** A request started before the answer ahead of it went out (pipelining.ts). */
  startedEarly: boolean;
  /** A refusal written by hand waits for the answer before it. */
  refusalWaiting: boolean;
  /** The parser's refusal of a request on it was counted (once: it errs again on every chunk). */
  refusalCounted: boolean;
}

const connections = new WeakMap<Socket, ConnectionState>();

/** The state of `socket`, made on first use. */
export function connectionState(socket: Socket): ConnectionState {
  let state = connections.get(socket);
  if (!state) {
    state = { startedEarly: false, refusalWaiting: false, refusalCounted: false };
    connections.set(socket, state);
  }
  return state;
}

/**
 * Whether a refusal written by hand on `socket` (a parser error, a timeout) must wait: the
 * request it refuses is pipelined behind one whose body is all in and whose answer is not out
 * yet. It then goes after that answer, never in its place (a client told 400 or 408 for a request
 * that was done would send it again): `then` runs once that answer has gone out (Node gives the
 * socket to the next answer before a finished one's 'close'), and decides afresh. One refusal
 * per connection waits; another meanwhile is dropped (the parser errs again on every chunk).
 */
export function refusalWaits(socket: Socket, then: () => void): boolean {
  if (connections.get(socket)?.refusalWaiting) return true;
  const inFlight = (socket as HttpSocket)._httpMessage;
  if (!inFlight?.req?.complete || inFlight.writableFinished) return false;
  const state = connectionState(socket);
  state.refusalWaiting = true;
  inFlight.once('close', () => {
    state.refusalWaiting = false;
    then();
  });
  return true;
}
