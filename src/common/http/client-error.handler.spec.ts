import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RawClient } from '../../../test/support/slow-client';
import { answerClientError, clientErrorProblem, refusalReason } from './client-error.handler';

describe(answerClientError.name, () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    // A plain Node server with the handler as Fastify registers it: the parser is Node's.
    server = createServer({ maxHeaderSize: 1024 }, (_req, res) => res.end('ok'));
    server.on('clientError', answerClientError);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  async function send(bytes: string): Promise<RawClient> {
    const client = await RawClient.connect(port);
    await client.write(bytes);
    await client.closed;
    return client;
  }

  it('answers a request that is not HTTP with 400 bad_request problem+json, then closes', async () => {
    const answer = (await send('NOT HTTP AT ALL\r\n\r\n')).answer();
    expect(answer?.status).toBe(400);
    expect(answer?.headers).toMatchObject({
      'content-type': 'application/problem+json; charset=utf-8',
      connection: 'close',
      'cache-control': 'no-store',
    });
    expect(answer?.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(answer!.body)).toEqual({
      type: 'urn:product-images:problem:bad_request',
      title: 'Bad request',
      status: 400,
      detail: 'The request is not valid HTTP or ended before it was complete.',
      code: 'bad_request',
      errors: [],
      request_id: answer!.headers['x-request-id'],
    });
  });

  it('answers headers over the limit with 431', async () => {
    const answer = (await send(`GET / HTTP/1.1\r\nx-big: ${'a'.repeat(2048)}\r\n\r\n`)).answer();
    expect(answer?.status).toBe(431);
    expect(JSON.parse(answer!.body)).toMatchObject({ status: 431, code: 'headers_too_large' });
  });

  it('leaves a request that parses alone', async () => {
    const answer = (await send('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')).answer();
    expect(answer).toMatchObject({ status: 200, body: 'ok' });
  });
});

describe(clientErrorProblem.name, () => {
  it("maps Node's request timeout to 408 request_timeout", () => {
    const p = clientErrorProblem({ code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    expect(p.status).toBe(408);
    expect(p.body.code).toBe('request_timeout');
  });
});

describe(refusalReason.name, () => {
  it.each([
    ['ERR_HTTP_REQUEST_TIMEOUT', 'timeout'],
    ['HPE_HEADER_OVERFLOW', 'headers_too_large'],
    ['HPE_INVALID_METHOD', 'malformed'],
    [undefined, 'malformed'],
    // The client left (reset, or closed mid-headers): it sent nothing wrong.
    ['ECONNRESET', undefined],
    ['HPE_INVALID_EOF_STATE', undefined],
  ])('takes %s for %s', (code, reason) => {
    expect(refusalReason({ code })).toBe(reason);
  });
});
