import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { noisyPng } from '../support/fixtures';
import { call, login, uploadToNewProduct, type Credential } from '../support/http';
import {
  PUBLIC_BASE,
  S3RVER_CREDENTIALS,
  startS3rver,
  type RunningS3rver,
} from '../support/storage-backends';
import { tcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * Bytes read back from S3 whose connection breaks mid-body (a reset after the answer began): the
 * read is the storage failing, as a refused or timed-out request is, never an unexpected fault.
 */
describe('S3 reads cut off mid-body', () => {
  const BUCKET = 'product-images';
  let dir: string;
  let s3: RunningS3rver;
  let proxy: TcpProxy;
  /** Bytes from S3 still let through while armed; then the connection is reset. */
  let allowance = Infinity;
  /** What becomes of the next `200` S3 sends once its headers are through: reset, or stalled. */
  let afterHeaders: 'reset' | 'stall' | undefined;
  /** Connections whose bytes are held back for ever (until the reader gives up on them). */
  const stalled = new WeakSet<Socket>();
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pis-s3-reads-'));
    s3 = await startS3rver(dir, [BUCKET]);
    proxy = await tcpProxy(`http://127.0.0.1:${s3.port}`, {
      fromServer: (chunk, client) => {
        if (stalled.has(client)) return;
        const headersEnd = chunk.indexOf('\r\n\r\n');
        if (afterHeaders && chunk.subarray(0, 12).toString() === 'HTTP/1.1 200' && headersEnd > 0) {
          const mode = afterHeaders;
          afterHeaders = undefined;
          client.write(chunk.subarray(0, headersEnd + 4));
          if (mode === 'stall') stalled.add(client);
          else setTimeout(() => client.resetAndDestroy(), 100);
          return;
        }
        allowance -= chunk.length;
        if (allowance < 0) return void client.resetAndDestroy();
        client.write(chunk);
      },
    });
    t = await startTestApp({
      STORAGE_DRIVER: 's3',
      S3_BUCKET: BUCKET,
      S3_ENDPOINT: proxy.url.replace(/\/$/, ''),
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      S3_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      S3_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      PUBLIC_BASE_URL: PUBLIC_BASE,
      STORAGE_TIMEOUT_MS: '3000',
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await t?.close();
    await proxy?.close();
    await s3?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    allowance = Infinity;
    afterHeaders = undefined;
  });

  it('answers a transform URL whose original breaks off 502 storage_unavailable, then serves it', async () => {
    // Noise: an original of about a megabyte, read back in many chunks.
    const image = await uploadToNewProduct(
      app,
      admin,
      await noisyPng(600, 600),
      'Cut',
      'image/png',
    );
    const path = `/transform/unsigned/p_card,f_auto/${image.id}`;

    allowance = 200_000;
    const res = await app.inject({ method: 'GET', url: path, headers: { accept: 'image/webp' } });
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 502, code: 'storage_unavailable' });
    // The part of the original spooled before the break is not left behind.
    await eventually(
      () => filesBelow(join(t.db.env.DATA_DIR, 'tmp')).length === 0,
      'the upload spool to be empty',
    );

    allowance = Infinity;
    const healed = await app.inject({
      method: 'GET',
      url: path,
      headers: { accept: 'image/webp' },
    });
    expect(healed.statusCode).toBe(200);
    expect(healed.headers['content-type']).toBe('image/webp');
    expect((await call(app, 'GET', '/health/ready')).statusCode).toBe(200);
  });

  it.each(['reset', 'stall'] as const)(
    'answers a stored result whose bytes never start (%s after the headers) 502, then serves it',
    async (mode) => {
      const image = await uploadToNewProduct(
        app,
        admin,
        await noisyPng(300, 300),
        mode,
        'image/png',
      );
      const path = `/transform/unsigned/p_card,f_auto/${image.id}`;
      const get = () => app.inject({ method: 'GET', url: path, headers: { accept: 'image/webp' } });
      // Made and stored: the next request reads the stored result back from S3.
      expect((await get()).statusCode).toBe(200);

      afterHeaders = mode;
      const res = await get();
      expect(afterHeaders).toBeUndefined();
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ status: 502, code: 'storage_unavailable' });

      const healed = await get();
      expect(healed.statusCode).toBe(200);
      expect(healed.headers['content-type']).toBe('image/webp');
    },
  );
});
