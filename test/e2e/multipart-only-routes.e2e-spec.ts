import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { call, login } from '../support/http';
import { ROOT } from '../support/process';
import { sendWithLargeBody, type EarlyAnswer } from '../support/raw-http';
import { RawClient, requestHead, type RawResponse } from '../support/slow-client';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/** A body far beyond JSON_BODY_LIMIT_BYTES: reading it would take the client minutes to send. */
const HELD_BYTES = 50 * 1024 * 1024;
const GTIN = '00012345678905';

/**
 * The upload routes take multipart/form-data only: the main API's stand-alone upload and the
 * compatible APIs' (Inventorum, the back-office uploader, the token API, Closient). A body of
 * another type is refused 415 unsupported_media_type as soon as the caller is admitted, unread
 * and unparsed: before, a JSON body was read whole and parsed (a malformed one answered 400
 * malformed_json, one over JSON_BODY_LIMIT_BYTES 413) only to be refused 415 by the route.
 */
describe('Multipart-only routes refuse other bodies unread', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let port: number;
  let key: string;
  let routes: string[];

  beforeAll(async () => {
    t = await startTestApp();
    app = t.app;
    const admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const created = await call(app, 'POST', '/api/v1/api-keys', admin, {
      name: 'uploader',
      role: 'admin',
      scopes: ['images:write'],
    });
    key = created.json<{ key: string }>().key;
    const me = await call(app, 'GET', '/api/v1/auth/me', admin);
    const organizationId = me.json<{ organization: { id: string } }>().organization.id;
    routes = [
      '/api/v1/images',
      '/api/images/',
      '/api/images',
      '/image',
      '/upload/image',
      '/api/products/123/images',
      `/dashboard/api/v1/trade-items/${organizationId}/${GTIN}/images`,
    ];
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.getHttpServer().address() as { port: number }).port;
  });

  afterAll(() => t?.close());

  function held(path: string, headers: Record<string, string>): Promise<EarlyAnswer> {
    return sendWithLargeBody({
      port,
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', ...headers },
      contentLength: HELD_BYTES,
      prefix: '{"image": "',
      rest: 'hold',
      timeoutMs: 5000,
    });
  }

  it('covers every operation the document gives a multipart body only, but the gallery uploads', () => {
    // A new multipart-only route must opt in (@ImageInMultipartOnly() beside @MultipartRequest):
    // it fails here until it is listed above, and the tests below then hold it to it. The gallery
    // uploads also take JSON ({ "image_id" }, documented on attachProductImage).
    const document = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')) as {
      paths: Record<string, Record<string, { requestBody?: { content: object } }>>;
    };
    const takesJsonToo = /^\/api\/v1\/products\/[^/]+(\/[^/]+)?\/images$/;
    const multipartOnly = Object.entries(document.paths)
      .filter(([path, item]) => {
        const types = Object.keys(item.post?.requestBody?.content ?? {});
        return types.length === 1 && types[0] === 'multipart/form-data' && !takesJsonToo.test(path);
      })
      .map(([path]) => path.replace(/\{[^}]+\}/g, '{}'))
      .sort();
    const tested = routes
      .map((path) =>
        path
          .replace(/^\/api\/products\/123\//, '/api/products/{}/')
          .replace(/\/trade-items\/[^/]+\/[^/]+\//, '/trade-items/{}/{}/'),
      )
      .sort();
    expect(tested).toEqual(multipartOnly);
  });

  it('answers a JSON body 415 without parsing it: malformed, null or too large alike', async () => {
    for (const url of routes) {
      for (const payload of ['{', 'null', `{"x": "${'x'.repeat(2 * 1024 * 1024)}"}`]) {
        const res = await app.inject({
          method: 'POST',
          url,
          headers: { 'x-api-key': key, 'content-type': 'application/json' },
          payload,
        });
        expect({ url, status: res.statusCode, code: res.json().code }).toEqual({
          url,
          status: 415,
          code: 'unsupported_media_type',
        });
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
  });

  it('answers 415 before a single body byte is needed, and closes the connection', async () => {
    for (const path of routes) {
      const answer = await held(path, { 'x-api-key': key });
      expect({ path, status: answer.status, code: JSON.parse(answer.body).code }).toEqual({
        path,
        status: 415,
        code: 'unsupported_media_type',
      });
      expect(answer.headers.connection).toBe('close');
      expect(answer.closedByServer).toBe(true);
    }
  });

  /** The first answer to a request head whose body waits for `100 Continue`, interim or final. */
  async function firstAnswer(
    path: string,
    headers: Record<string, string>,
  ): Promise<RawResponse | undefined> {
    const client = await RawClient.connect(port);
    try {
      const all = { 'x-api-key': key, expect: '100-continue', ...headers };
      await client.write(requestHead('POST', path, all, HELD_BYTES));
      return await client.answered(10_000);
    } finally {
      client.destroy();
    }
  }

  it('answers 415 before the checks a JSON body meets elsewhere: its digest, its path', async () => {
    // The Idempotency-Key's digest of a JSON body, and the path checks run before inviting one,
    // do not come first: no `100 Continue`, no 400 for the path, whatever the request holds.
    const malformedIds = ['/api/products/not-an-id/images', ...routes.slice(-1)].map((path) =>
      path.replace(/\/trade-items\/[^/]+\/[^/]+\//, '/trade-items/not-an-id/123/'),
    );
    const json = { 'content-type': 'application/json' };
    for (const [path, headers] of [
      ...routes.map((path) => [path, { ...json, 'idempotency-key': `digest-${path}` }] as const),
      ...malformedIds.map((path) => [path, json] as const),
    ]) {
      const first = await firstAnswer(path, headers);
      expect({ path, headers, status: first?.status }).toEqual({ path, headers, status: 415 });
      expect(JSON.parse(first!.body)).toMatchObject({
        code: 'unsupported_media_type',
        detail: 'Send the image as multipart/form-data.',
      });
    }
    // An encoded body is refused for its encoding (415 too), by the hook every route has.
    for (const path of routes) {
      const first = await firstAnswer(path, { ...json, 'content-encoding': 'gzip' });
      expect({ path, status: first?.status, code: JSON.parse(first!.body).code }).toEqual({
        path,
        status: 415,
        code: 'unsupported_media_type',
      });
    }
  });

  it('is a hook of those routes alone, not of every request', () => {
    // It was a global preParsing hook, run (to do nothing) on every request of every route.
    const printed = app
      .getHttpAdapter()
      .getInstance()
      .printRoutes({ includeHooks: true, commonPrefix: false });
    expect(printed.match(/"refuseIfNotMultipart\(\)"/g)).toHaveLength(routes.length);
  });

  it('authenticates first: without a credential the answer is 401, not 415', async () => {
    for (const path of routes) {
      const answer = await held(path, {});
      expect({ path, status: answer.status }).toEqual({ path, status: 401 });
      expect(JSON.parse(answer.body).code).toBe('authentication_required');
    }
  });
});
