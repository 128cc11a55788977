import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { decodeId } from '../../src/common/ids/short-id';
import { solidJpeg } from '../support/fixtures';
import { login, uploadToNewProduct, type Credential } from '../support/http';
import {
  PUBLIC_BASE,
  startStorageBackend,
  type Driver,
  type StorageBackend,
} from '../support/storage-backends';
import { transformSignature } from '../support/transform-signature';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const KEY = 'transform-validators-key-0123456789abcdef';

/**
 * The validators of transform results, on local disk and on S3 (s3rver): a date condition that
 * cannot be (RFC 9110 13.1.3), the fields every 304 carries (15.4.5), and one ETag per format a
 * URL negotiates from Accept.
 */
describe.each<Driver>(['local', 's3'])('Transform result validators on %s storage', (driver) => {
  let backend: StorageBackend;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let imageId: string;

  beforeAll(async () => {
    backend = await startStorageBackend(driver);
    t = await startTestApp({
      ...backend.env,
      PUBLIC_BASE_URL: PUBLIC_BASE,
      DELIVERY_SIGNING_KEYS: KEY,
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    imageId = (await uploadToNewProduct(app, admin, await solidJpeg(800, 600))).id;
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  const signed = (options: string) =>
    `/transform/${transformSignature(KEY, options, imageId)}/${options}/${imageId}`;
  const get = (path: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: path, headers });

  it('ignores an If-Modified-Since later than now: the bytes, not 304', async () => {
    const path = signed('w_200,f_webp');
    const first = await get(path);
    expect(first.statusCode).toBe(200);
    const lastModified = first.headers['last-modified'] as string;
    expect((await get(path, { 'if-modified-since': lastModified })).statusCode).toBe(304);
    for (const ahead of [120_000, 10 * 365 * 24 * 3600_000]) {
      const future = new Date(Date.now() + ahead).toUTCString();
      const res = await get(path, { 'if-modified-since': future });
      expect({ future, status: res.statusCode }).toEqual({ future, status: 200 });
      expect(res.rawPayload).toEqual(first.rawPayload);
    }
  });

  it('sends on every 304 the validators and caching a 200 would (RFC 9110 15.4.5)', async () => {
    const path = signed('w_240,f_auto');
    const accept = 'image/webp,*/*';
    const first = await get(path, { accept });
    expect(first.statusCode).toBe(200);
    const etag = first.headers.etag as string;
    const lastModified = first.headers['last-modified'] as string;
    expect(lastModified).toBeDefined();
    const expected = {
      etag,
      'last-modified': lastModified,
      'cache-control': first.headers['cache-control'],
      vary: first.headers.vary,
    };
    const conditions: Record<string, string>[] = [
      { 'if-none-match': etag },
      { 'if-none-match': `W/${etag}` },
      { 'if-none-match': `"another", ${etag}` },
      { 'if-none-match': '*' },
      { 'if-modified-since': lastModified },
      { 'if-none-match': etag, range: 'bytes=0-9' },
    ];
    for (const headers of conditions) {
      const res = await get(path, { accept, ...headers });
      expect({ headers, status: res.statusCode, sent: pick(res.headers, expected) }).toEqual({
        headers,
        status: 304,
        sent: expected,
      });
    }
  });

  it('gives each format a URL negotiates its own ETag, and compares a condition with it', async () => {
    const path = signed('w_300,f_auto');
    const asked = { avif: 'image/avif,image/webp,*/*', webp: 'image/webp,*/*', jpeg: '*/*' };
    const tags: Record<string, string> = {};
    for (const [format, accept] of Object.entries(asked)) {
      const res = await get(path, { accept });
      expect([res.statusCode, res.headers['content-type'], res.headers.vary]).toEqual([
        200,
        `image/${format}`,
        'Accept',
      ]);
      tags[format] = res.headers.etag as string;
    }
    if (driver === 'local') {
      // The AVIF result as long as the WebP one and written in the same millisecond: the two
      // files alike in everything the file system says of them.
      const dir = backend.env.STORAGE_LOCAL_DIR;
      const [webp, avif] = ['webp', 'avif'].map((format) =>
        backend
          .stored()
          .find(
            (key) =>
              key.startsWith(`derived/${decodeId(imageId)}/320x`) && key.endsWith(`.${format}`),
          ),
      );
      const webpSize = (await get(path, { accept: asked.webp })).rawPayload.length;
      writeFileSync(join(dir, avif!), Buffer.alloc(webpSize, 7));
      const when = new Date('2026-03-04T05:06:07.089Z');
      for (const key of [webp!, avif!]) utimesSync(join(dir, key), when, when);
      // Past the second the service trusts validators it has given.
      await sleep(1100);
      for (const [format, accept] of Object.entries(asked)) {
        tags[format] = (await get(path, { accept })).headers.etag as string;
      }
    }
    expect(new Set(Object.values(tags)).size).toBe(3);
    for (const [format, accept] of Object.entries(asked)) {
      for (const [held, tag] of Object.entries(tags)) {
        // A client (or a cache) holding one format and asking with another Accept.
        const res = await get(path, { accept, 'if-none-match': tag });
        const status = held === format ? 304 : 200;
        expect({ format, held, status: res.statusCode }).toEqual({ format, held, status });
        expect(res.headers.etag).toBe(tags[format]);
        const matched = await get(path, { accept, 'if-match': tag });
        const holds = held === format ? 200 : 412;
        expect({ format, held, ifMatch: matched.statusCode }).toEqual({
          format,
          held,
          ifMatch: holds,
        });
      }
    }
  });
});

/** The fields of `headers` that `expected` names. */
function pick(
  headers: Record<string, unknown>,
  expected: Record<string, unknown>,
): Record<string, unknown> {
  return Object.fromEntries(Object.keys(expected).map((name) => [name, headers[name]]));
}
