import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { filesBelow } from '../support/accounts';
import { noisyPng } from '../support/fixtures';
import { ProbeController, ProbeModule } from '../support/probe/probe.module';
import { call, login } from '../support/http';
import {
  eventually,
  multipartBody,
  RawClient,
  requestHead,
  type RawResponse,
} from '../support/slow-client';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * Slow clients on a real socket: headers or a body that trickle are cut with 408 problem+json
 * and the connection closed, within the configured time; an upload that is slow but steady is
 * not; idle keep-alive connections are closed. Nothing a cut request wrote stays behind.
 */

const HEADERS_TIMEOUT_MS = 1500;
const MIN_BYTES_PER_SECOND = 2000;
const REQUEST_TIMEOUT_MS = 6000;
const KEEP_ALIVE_TIMEOUT_MS = 1500;
/** Room for a loaded two-core machine on top of each configured time. */
const SLACK_MS = 5000;

describe('Slow clients', () => {
  let t: TestApp;
  let port: number;
  let bearer: string;
  let productId: string;
  let jpeg: Buffer;

  beforeAll(async () => {
    t = await startTestApp(
      {
        HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        HTTP_BODY_MIN_BYTES_PER_SECOND: String(MIN_BYTES_PER_SECOND),
        HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
      },
      { imports: [ProbeModule] },
    );
    bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    const product = await call(t.app, 'POST', '/api/v1/products', { bearer }, { name: 'Slow' });
    productId = product.json<{ id: string }>().id;
    jpeg = await sharp(await noisyPng(120, 80))
      .jpeg({ quality: 90 })
      .toBuffer();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });

  afterAll(async () => {
    await t?.close();
  });

  const tmpFiles = () => filesBelow(join(t.db.env.DATA_DIR, 'tmp'));

  function expectTimeoutProblem(answer: RawResponse | undefined): void {
    expect(answer).toBeDefined();
    const { status, headers, body } = answer!;
    expect(status).toBe(408);
    expect(headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(headers.connection).toBe('close');
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['content-security-policy']).toContain("default-src 'none'");
    const problem = JSON.parse(body) as Record<string, unknown>;
    expect(problem).toMatchObject({
      type: 'urn:product-images:problem:request_timeout',
      status: 408,
      code: 'request_timeout',
      request_id: headers['x-request-id'],
    });
    expect(headers['x-request-id']).toMatch(/\S/);
  }

  it('cuts headers that trickle: 408 problem+json within HTTP_HEADERS_TIMEOUT_MS', async () => {
    const client = await RawClient.connect(port);
    const start = Date.now();
    await client.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    void client.trickle(`X-Slow: ${'x'.repeat(200)}\r\n`, 100);
    const answer = await client.answered(HEADERS_TIMEOUT_MS + SLACK_MS);
    await Promise.race([client.closed, new Promise((r) => setTimeout(r, SLACK_MS))]);
    expect(client.closedAt).toBeDefined();
    expect(client.closedAt! - start).toBeLessThan(HEADERS_TIMEOUT_MS + SLACK_MS);
    expect(client.closedAt! - start).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
    expectTimeoutProblem(answer);
  });

  it('answers a request being served before the 408 of one pipelined behind it, which carries its own id', async () => {
    // The second request times out while the first is still served (its headers never ended; its
    // body never came, past HTTP_REQUEST_TIMEOUT_MS): its 408 follows the first's answer, never
    // takes its place (a client told 408 for a request that was done would send it again), and
    // is its own, not the first's id.
    ProbeController.slowForMs = REQUEST_TIMEOUT_MS + 1000;
    const slow =
      'GET /api/v1/probe/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: first\r\n\r\n';
    const answered = async (second: string) => {
      const client = await RawClient.connect(port);
      await client.write(slow + second);
      await Promise.race([client.closed, sleep(REQUEST_TIMEOUT_MS + 1000 + SLACK_MS)]);
      expect(client.closedAt).toBeDefined();
      const received = client.received().toString('latin1');
      return [...received.matchAll(/HTTP\/1\.1 (\d{3}) [^]*?x-request-id: (\S+)/gi)].map(
        (m) => `${m[1]} ${m[2]}`,
      );
    };
    try {
      const [headersCut, bodyCut] = await Promise.all([
        answered('GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n'),
        answered(
          'POST /api/v1/probe/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: second\r\n' +
            'Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{',
        ),
      ]);
      expect(headersCut).toEqual(['200 first', expect.stringMatching(/^408 (?!first)/)]);
      expect(bodyCut).toEqual(['200 first', '408 second']);
    } finally {
      ProbeController.slowForMs = 1500;
    }
  });

  interface BodyCase {
    method: string;
    path: string;
    headers: Record<string, string>;
    /** Sent at once; the rest of the announced body then comes a byte at a time. */
    prefix: Buffer;
    /** Whether the prefix starts an image, which the service spools to a file. */
    spooled: boolean;
  }

  const bodyCases: [string, () => BodyCase][] = [
    [
      'a login',
      () => ({
        method: 'POST',
        path: '/api/v1/auth/login',
        headers: { 'content-type': 'application/json' },
        prefix: Buffer.from(`{"email": "${TEST_ADMIN.email}", "password": "`),
        spooled: false,
      }),
    ],
    [
      'an upload',
      () => {
        const { contentType, head } = multipartBody(Buffer.alloc(0));
        return {
          method: 'POST',
          path: `/api/v1/products/${productId}/images`,
          headers: { 'content-type': contentType, authorization: `Bearer ${bearer}` },
          prefix: Buffer.concat([head, jpeg.subarray(0, 2000)]),
          spooled: true,
        };
      },
    ],
    [
      'an import',
      () => ({
        method: 'PUT',
        path: `/api/v1/products/${productId}/image`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        // Whole base64 quanta, so that the trickled 'A's carry on a valid payload.
        prefix: Buffer.from(
          `{"image": "data:image/jpeg;base64,${jpeg.subarray(0, 3000).toString('base64')}`,
        ),
        spooled: true,
      }),
    ],
  ];

  it.each(bodyCases)(
    'cuts %s whose body trickles below the minimum rate: 408 problem+json, nothing left',
    async (_, make) => {
      const { method, path, headers, prefix, spooled } = make();
      const client = await RawClient.connect(port);
      await client.write(requestHead(method, path, headers, prefix.length + 100_000));
      const start = Date.now();
      await client.write(prefix);
      if (spooled) expect(await eventually(() => tmpFiles().length > 0, 3000)).toBe(true);
      void client.trickle(Buffer.alloc(100_000, 'A'), 200);
      const answer = await client.answered(HEADERS_TIMEOUT_MS + SLACK_MS);
      await Promise.race([client.closed, new Promise((r) => setTimeout(r, SLACK_MS))]);
      expect(client.closedAt).toBeDefined();
      // Cut once the grace (HTTP_HEADERS_TIMEOUT_MS) is over and the rate is not kept.
      expect(client.closedAt! - start).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 500);
      expect(client.closedAt! - start).toBeLessThan(HEADERS_TIMEOUT_MS + SLACK_MS);
      expectTimeoutProblem(answer);
      expect(await eventually(() => tmpFiles().length === 0)).toBe(true);
    },
  );

  it('lets a slow but steady upload through, though it takes longer than the grace', async () => {
    // Padded with alt text so that the upload takes about three seconds at 10 kB/s.
    const padded = multipartBody(jpeg, { alt_text: 'x'.repeat(800) });
    const bytes = Buffer.concat([padded.body]);
    const client = await RawClient.connect(port);
    await client.write(
      requestHead(
        'POST',
        `/api/v1/products/${productId}/images`,
        { 'content-type': padded.contentType, authorization: `Bearer ${bearer}` },
        padded.body.length,
      ),
    );
    const start = Date.now();
    await client.sendAt(bytes, Math.max(4000, bytes.length / 3));
    const answer = await client.answered(REQUEST_TIMEOUT_MS);
    expect(Date.now() - start).toBeGreaterThan(HEADERS_TIMEOUT_MS);
    expect(answer?.status).toBe(201);
    client.destroy();
  });

  it('cuts a request still arriving after HTTP_REQUEST_TIMEOUT_MS, however steady: 408', async () => {
    const { contentType, head, tail } = multipartBody(Buffer.alloc(0));
    const file = Buffer.concat([jpeg, Buffer.alloc(100_000, 0)]);
    const client = await RawClient.connect(port);
    const start = Date.now();
    await client.write(
      requestHead(
        'POST',
        `/api/v1/products/${productId}/images`,
        { 'content-type': contentType, authorization: `Bearer ${bearer}` },
        head.length + file.length + tail.length,
      ),
    );
    await client.write(head);
    // 10 kB/s: well above the minimum rate, but 10 s for the whole body.
    void client.sendAt(file, 10_000);
    const answer = await client.answered(REQUEST_TIMEOUT_MS + SLACK_MS);
    await Promise.race([client.closed, new Promise((r) => setTimeout(r, SLACK_MS))]);
    expect(client.closedAt).toBeDefined();
    expect(client.closedAt! - start).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 500);
    expect(client.closedAt! - start).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    expectTimeoutProblem(answer);
    expect(await eventually(() => tmpFiles().length === 0)).toBe(true);
  });

  it('closes a keep-alive connection left idle for HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const client = await RawClient.connect(port);
    await client.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const answer = await client.answered(SLACK_MS);
    expect(answer?.status).toBe(200);
    const answeredAt = Date.now();
    await Promise.race([
      client.closed,
      new Promise((r) => setTimeout(r, KEEP_ALIVE_TIMEOUT_MS + SLACK_MS)),
    ]);
    expect(client.closedAt).toBeDefined();
    expect(client.closedAt! - answeredAt).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS - 500);
    expect(client.closedAt! - answeredAt).toBeLessThan(KEEP_ALIVE_TIMEOUT_MS + SLACK_MS);
  });
});
