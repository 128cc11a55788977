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
