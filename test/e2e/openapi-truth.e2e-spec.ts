import { connect, type AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { solidJpeg } from '../support/fixtures';
import { call, login } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import {
  inOwnEnvelope,
  OpenApiResponseValidator,
  type ObservedResponse,
} from '../support/openapi-validator';

/**
 * openapi.json against what the service does: places where a client generated from, or a gateway
 * validating against, the document was told something the service does not do.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
const validator = OpenApiResponseValidator.fromFile();
const doc = validator.document as any;
const requestSchema = (path: string, method: string) =>
  doc.paths[path][method].requestBody.content['application/json'].schema;
const documentAccepts = (path: string, method: string, body: unknown) =>
  validator.validate(requestSchema(path, method), body).length === 0;

/** One raw HTTP/1.1 exchange (for requests app.inject cannot make: no Host, two Hosts). */
function rawExchange(
  port: number,
  text: string,
): Promise<{ status: number; type?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => (data += d.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      const type = /\r\ncontent-type: ([^\r]+)/i.exec(head)?.[1];
      resolve({ status, type, body: rest.join('\r\n\r\n') });
    });
    socket.end(text);
  });
}

describe('openapi.json tells the truth', () => {
  let t: TestApp;
  let bearer: string;
  beforeAll(async () => {
    t = await startTestApp();
    bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
  });
  afterAll(() => t.close());

  it('documents the email addresses the service accepts (createUser, login)', async () => {
    const admin = { bearer };
    const user = {
      email: 'jörg@bücher.example',
      username: 'joerg',
      password: 'a long enough password',
      role: 'user',
    };
    const created = await call(t.app, 'POST', '/api/v1/users', admin, user);
    expect(created.statusCode).toBe(201);
    const loggedIn = await call(t.app, 'POST', '/api/v1/auth/login', undefined, {
      email: user.email,
      password: user.password,
    });
    expect(loggedIn.statusCode).toBe(200);
    // `format: email` (ASCII only): a client validating its requests against it refused both.
    expect(documentAccepts('/api/v1/users', 'post', user)).toBe(true);
    expect(
      documentAccepts('/api/v1/auth/login', 'post', { email: user.email, password: user.password }),
    ).toBe(true);
    expect(documentAccepts('/api/v1/users', 'post', { ...user, email: 'no address' })).toBe(false);
  });

  it('request bodies: what the document accepts the service accepts, and the reverse', async () => {
    const cases: [string, unknown][] = [
      ['/api/v1/products', { name: '   ' }],
      ['/api/v1/products', { name: ' Shoe ' }],
      // A name that shows as nothing (the pattern's Unicode properties, as the validator's).
      ['/api/v1/products', { name: '\u200b\u0301\u3164' }],
      ['/api/v1/products', { name: 'Cafe\u0301' }],
      ['/api/v1/api-keys', { name: '\u202e\ufeff' }],
      ['/api/v1/api-keys', { name: '' }],
      ['/api/v1/api-keys', { name: ' ' }],
      ['/api/v1/api-keys', { name: 'k', expires_at: '2030-01-01' }],
      ['/api/v1/api-keys', { name: 'k', expires_at: '2030-01-01T00:00:00Z' }],
      ['/api/v1/api-keys', { name: 'k', expires_at: '2030-02-30' }],
      ['/api/v1/auth/login', { password: 'x' }],
      ['/api/v1/auth/login', { username: '', password: 'x' }],
      ['/api/v1/auth/login', { username: 'nobody', password: '' }],
      ['/api/v1/auth/login', { username: 'nobody', password: 'x' }],
    ];
    const disagreements: string[] = [];
    for (const [path, body] of cases) {
      const res = await call(t.app, 'POST', path, { bearer }, body);
      const serviceAccepts = res.statusCode < 400 || res.statusCode === 401; // 401: a wrong login
      const docAccepts = documentAccepts(path, 'post', body);
      if (serviceAccepts !== docAccepts) {
        disagreements.push(
          `POST ${path} ${JSON.stringify(body)}: document ${docAccepts ? 'accepts' : 'refuses'}, service ${res.statusCode}`,
        );
      }
    }
    expect(disagreements).toEqual([]);
  });

  it('request bodies: text with control characters and an upload priority past its limit', async () => {
    const admin = { bearer };
    const product = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Bodies' });
    const productId = product.json<{ id: string }>().id;
    const jpeg = await solidJpeg(16, 16);
    const upload = (fields: Record<string, string>) => {
      const body = multipart(fields, [{ data: jpeg, contentType: 'image/jpeg' }]);
      return call(t.app, 'POST', `/api/v1/products/${productId}/images`, admin, body.payload, {
        headers: body.headers,
      });
    };
    const image = (await upload({})).json<{ id: string }>();
    const disagreements: string[] = [];
    const compare = (what: string, status: number, docAccepts: boolean) => {
      if (status < 400 !== docAccepts) {
        disagreements.push(
          `${what}: document ${docAccepts ? 'accepts' : 'refuses'}, service ${status}`,
        );
      }
    };
    const json: [string, string, string, unknown][] = [
      ['POST', '/api/v1/products', '/api/v1/products', { name: 'Blue\tShoe' }],
      ['POST', '/api/v1/api-keys', '/api/v1/api-keys', { name: 'PIM\timport' }],
      [
        'POST',
        '/api/v1/users',
        '/api/v1/users',
        {
          email: 'ann@x.example',
          username: 'ann',
          password: 'a long enough password',
          role: 'user',
          full_name: 'Ann\nExample',
        },
      ],
      [
        'PATCH',
        `/api/v1/products/${productId}/images/${image.id}`,
        '/api/v1/products/{productId}/images/{imageId}',
        { alt_text: 'Blue shoe,\tside view' },
      ],
      [
        'PATCH',
        `/api/v1/products/${productId}/images/${image.id}`,
        '/api/v1/products/{productId}/images/{imageId}',
        { description: 'Two lines,\nas a description may have' },
      ],
    ];
    for (const [method, url, path, body] of json) {
      const res = await call(t.app, method, url, admin, body);
      const schema = doc.paths[path][method.toLowerCase()].requestBody.content['application/json'];
      compare(
        `${method} ${path} ${JSON.stringify(body)}`,
        res.statusCode,
        validator.validate(schema.schema, body).length === 0,
      );
    }
    const form =
      doc.paths['/api/v1/products/{productId}/images'].post.requestBody.content[
        'multipart/form-data'
      ].schema;
    for (const [fields, typed] of [
      [{ priority: '2000000' }, { priority: 2_000_000 }],
      [{ title: 'Front\tside' }, { title: 'Front\tside' }],
      [{ description: 'Line one\nline two' }, { description: 'Line one\nline two' }],
    ] as [Record<string, string>, Record<string, unknown>][]) {
      const res = await upload(fields);
      compare(
        `POST /api/v1/products/{productId}/images ${JSON.stringify(fields)}`,
        res.statusCode,
        validator.validate(form, { image: 'x', ...typed }).length === 0,
      );
    }
    // The token API takes the same alt_text as the main upload: its form must say so too.
    const tokenForm =
      doc.paths['/api/products/{product_id}/images'].post.requestBody.content['multipart/form-data']
        .schema;
    for (const alt_text of ['\u200b\u200b', 'Front\tside', 'Front side']) {
      const body = multipart({ alt_text }, [{ data: jpeg, contentType: 'image/jpeg' }]);
      const res = await call(
        t.app,
        'POST',
        `/api/products/${productId}/images`,
        admin,
        body.payload,
        {
          headers: body.headers,
        },
      );
      compare(
        `POST /api/products/{product_id}/images ${JSON.stringify({ alt_text })}`,
        res.statusCode,
        validator.validate(tokenForm, { image: 'x', alt_text }).length === 0,
      );
    }
    expect(disagreements).toEqual([]);
  });

  it('documents 400 bad_request (no Host, two Hosts) where the service answers it', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    const auth = `Authorization: Bearer ${bearer}\r\nConnection: close\r\n`;
    for (const head of [
      `GET /api/v1/products HTTP/1.1\r\n${auth}\r\n`,
      `GET /api/v1/products HTTP/1.1\r\nHost: a\r\nHost: b\r\n${auth}\r\n`,
    ]) {
      const res = await rawExchange(port, head);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).code).toBe('bad_request');
      const observed: ObservedResponse = {
        method: 'GET',
        route: '/api/v1/products',
        status: res.status,
        contentType: res.type,
        body: res.body,
      };
      // The recorder saw the same answer: `code` not one of the documented 400 codes.
      expect(validator.check(observed).violations).toEqual([]);
    }
    // Every operation, not only this one.
    const without = validator
      .operations()
      .filter(({ key }) => {
        const [method, path] = key.split(' ');
        const response = doc.paths[path][method.toLowerCase()].responses['400'];
        // A route answering 400 in an envelope of its own (Inventorum's) names the code's key.
        if (inOwnEnvelope(response)) {
          return !String(response.description).includes('`common.bad_request`');
        }
        const codes = response?.content?.['application/problem+json']?.schema?.allOf?.[1]
          ?.properties?.code?.enum as string[] | undefined;
        return !codes?.includes('bad_request');
      })
      .map(({ key }) => key);
    expect(without).toEqual([]);
  });

  it('declares the headers the service sends on redirects and on 409 idempotency_key_in_use', () => {
    const transform = doc.paths['/transform/{signature}/{transformation}/{id}'].get.responses;
    // delivery.controller.ts: reply.header('Cache-Control', …).redirect(result.url, 302)
    expect(Object.keys(transform['302'].headers)).toEqual(
      expect.arrayContaining(['Location', 'Cache-Control']),
    );
    // idempotency.service.ts keyInUse(): Retry-After: 1 on the 409, wherever it is documented.
    const createProduct409 = doc.paths['/api/v1/products'].post.responses['409'];
    expect(Object.keys(createProduct409.headers)).toContain('Retry-After');
    const without = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(
      ([path, item]) =>
        Object.entries(item)
          .filter(([, op]) => {
            const conflict = op.responses?.['409'];
            const codes = conflict?.content?.['application/problem+json']?.schema?.allOf?.[1]
              ?.properties?.code?.enum as string[] | undefined;
            return codes?.includes('idempotency_key_in_use') && !conflict.headers?.['Retry-After'];
          })
          .map(([method]) => `${method} ${path}`),
    );
    expect(without).toEqual([]);
  });

  it('the e2e response check looks at headers (a malformed ETag, a 201 without Location)', async () => {
    const product = await call(t.app, 'POST', '/api/v1/products', { bearer }, { name: 'Headers' });
    expect(product.statusCode).toBe(201);
    const observed: ObservedResponse = {
      method: 'POST',
      route: '/api/v1/products',
      status: 201,
      contentType: product.headers['content-type'],
      body: product.body,
      // What the document says: ETag `^"p?\d+"$`, a Location. Sent: neither as documented.
      headers: { etag: 'W/"not-a-version"', 'x-request-id': 'r-1' },
    };
    const found = validator.check(observed).violations.map((v) => [v.kind, v.message]);
    expect(found).toHaveLength(2);
    expect(found).toEqual(
      expect.arrayContaining([
        ['header', expect.stringMatching(/^ETag "W\/\\"not-a-version\\"" must match pattern/)],
        ['missing_header', 'Location is documented, none was sent'],
      ]),
    );
    // And a Retry-After that is not seconds, or one the status does not document.
    const retry = (status: number, retryAfter: string) =>
      validator
        .check({
          method: 'GET',
          route: '/api/v1/products',
          status,
          headers: { 'retry-after': retryAfter },
        })
        .violations.map((v) => v.kind)
        .filter((kind) => kind.includes('header')); // no body here
    expect(retry(503, 'soon')).toEqual(['header']);
    expect(retry(503, '5')).toEqual([]);
    expect(retry(400, '5')).toEqual(['undocumented_header']);
    // What the service sent passes.
    const sent = { ...observed, headers: product.headers as ObservedResponse['headers'] };
    expect(validator.check(sent).violations).toEqual([]);
  });

  it('types counts as integers (RenditionRebuildDto)', () => {
    const props = doc.components.schemas.RenditionRebuildDto.properties;
    expect([props.total.type, props.done.type, props.failed.type]).toEqual([
      'integer',
      'integer',
      'integer',
    ]);
    expect([props.total.minimum, props.done.minimum, props.failed.minimum]).toEqual([0, 0, 0]);
  });

  // Last: once a second app has started in this process, the first app's bearer tokens are
  // refused (401 invalid_token), which would fail the tests above.
  it('readiness 503: documents only the body the service sends (problem+json not_ready)', async () => {
    const other = await startTestApp();
    try {
      await other.app.get(DataSource).destroy();
      const res = await other.app.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 503, code: 'not_ready' });
      const documented = Object.keys(doc.paths['/health/ready'].get.responses['503'].content);
      // It also documented Terminus' report as application/json, `status` a string ("error"),
      // which a client typing the 503 body from the document read instead.
      expect(documented).toEqual(['application/problem+json']);
    } finally {
      await other.app.close().catch(() => undefined);
      await other.db.drop();
    }
  });
});
