import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { decodeId, encodeShortId } from '../../src/common/ids/short-id';
import { TransformResults } from '../../src/images/delivery/transform-results.service';
import { OrphanFileSweeper } from '../../src/images/orphan-file-sweeper';
import { Metrics } from '../../src/metrics/metrics.service';
import {
  deliveryHeaders,
  STORAGE_PROVIDER,
  StorageError,
  type StorageProvider,
} from '../../src/storage/storage-provider';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { animation, solidJpeg } from '../support/fixtures';
import { call, login, uploadToNewProduct, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import {
  PUBLIC_BASE,
  startStorageBackend,
  type Driver,
  type StorageBackend,
} from '../support/storage-backends';
import { transformSignature } from '../support/transform-signature';
import { startTestApp, testAppEnv, TEST_ADMIN, type TestApp } from '../support/test-app';
import { whileSlotHeld } from '../support/held-slot';
import { metricValue } from '../support/metrics';

/**
 * Images made on request through transform URLs, on local disk and on S3 (s3rver): signatures
 * (and their rotation), unsigned presets by name, format negotiation from Accept, the width
 * ladder, one making per result however many ask at once, and the result served from storage
 * afterwards with immutable caching, 304 and 206; the results go when their image does.
 */
const NEW_KEY = 'transform-url-key-new-0123456789abcdef';
const OLD_KEY = 'transform-url-key-old-0123456789abcdef';
const AVIF_WEBP = 'image/avif,image/webp,*/*;q=0.8';
const SHOP = 'https://shop.example';

/** The signature a client with the key computes. */
const sign = transformSignature;

/** The path of a transform URL signed with `key`. */
const transformPath = (options: string, id: string, key = NEW_KEY) =>
  `/transform/${sign(key, options, id)}/${options}/${id}`;

/** The URLs of a srcset (`url 320w, url 480w`). */
const srcsetUrls = (srcset: string) =>
  srcset.split(', ').map((candidate) => candidate.split(' ')[0]);

describe.each<Driver>(['local', 's3'])('Transform URLs on %s storage', (driver) => {
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
      DELIVERY_SIGNING_KEYS: `${NEW_KEY},${OLD_KEY}`,
      // A storefront on another origin reads images with CORS (canvas, <img crossorigin>).
      CORS_ORIGINS: SHOP,
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    imageId = await uploadImage(await solidJpeg(800, 600));
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  async function uploadImage(file: Buffer): Promise<string> {
    return (await uploadToProduct(file)).id;
  }

  const uploadToProduct = (file: Buffer) => uploadToNewProduct(app, admin, file);

  const get = (path: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: path, headers });
  const signed = (options: string, id = imageId, key = NEW_KEY) => transformPath(options, id, key);
  const made = () => app.get(TransformResults).made;
  const derived = (id = imageId) =>
    backend.stored().filter((key) => key.startsWith(`derived/${decodeId(id)}/`));

  it('serves a signed URL: negotiated AVIF, snapped to the ladder, cached for a year', async () => {
    const res = await get(signed('w_300,f_auto'), { accept: AVIF_WEBP });
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({
      'content-type': 'image/avif',
      'cache-control': 'public, max-age=31536000, immutable',
      vary: 'Origin, Accept',
    });
    expect(res.headers.etag).toMatch(/^"[^"]+"$/);
    expect(new Date(res.headers['last-modified'] as string).getTime()).not.toBeNaN();
    // A client sending its credential along (an SDK's fetch) gets the same caching: public bytes.
    const credentialed = await get(signed('w_300,f_auto'), {
      accept: AVIF_WEBP,
      authorization: 'Bearer any',
      'x-api-key': 'any',
    });
    expect(credentialed.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    // 300 is not on the ladder: 320, and the height follows the original's ratio.
    const meta = await sharp(res.rawPayload).metadata();
    expect(meta).toMatchObject({ format: 'heif', width: 320, height: 240 });
  });

  it('chooses WebP for a browser that takes WebP only, and the original format for */*', async () => {
    const webp = await get(signed('w_300,f_auto'), { accept: 'image/webp,*/*' });
    expect(webp.headers['content-type']).toBe('image/webp');
    expect(webp.headers.vary).toBe('Origin, Accept');
    const any = await get(signed('w_300,f_auto'), { accept: '*/*' });
    expect(any.headers['content-type']).toBe('image/jpeg');
    expect(any.headers.vary).toBe('Origin, Accept');
    // A format named in the URL does not vary by Accept.
    const named = await get(signed('w_300,f_png'), { accept: AVIF_WEBP });
    expect(named.headers['content-type']).toBe('image/png');
    expect(named.headers.vary).toBe('Origin');
  });

  it('never answers f_auto in a format the Accept header refuses with q=0', async () => {
    // Past 1,000 characters, where the header is no longer read: a refusal cut off is none.
    for (const refused of ['avif', 'webp']) {
      const accept = `${'xy/z,'.repeat(198)}image/${refused};q=0`;
      const res = await get(signed('w_300,f_auto'), { accept });
      expect({ refused, type: res.headers['content-type'] }).toEqual({
        refused,
        type: 'image/jpeg',
      });
    }
    // The original's format refused, another named: that one.
    const png = await get(signed('w_300,f_auto'), { accept: 'image/png, image/jpeg;q=0' });
    expect(png.headers['content-type']).toBe('image/png');
  });

  it('keeps Vary: Origin beside Accept, so caches keep each origin its own CORS answer', async () => {
    const url = signed('w_300,f_auto');
    const shop = await get(url, { accept: AVIF_WEBP, origin: SHOP });
    expect(shop.headers).toMatchObject({
      'access-control-allow-origin': SHOP,
      vary: 'Origin, Accept',
    });
    const stranger = await get(url, { accept: AVIF_WEBP, origin: 'https://evil.example' });
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    expect(stranger.headers.vary).toBe('Origin, Accept');
    const revalidated = await get(url, {
      accept: AVIF_WEBP,
      origin: SHOP,
      'if-none-match': shop.headers.etag as string,
    });
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.headers.vary).toBe('Origin, Accept');
  });

  it('refuses a tampered signature, another image, or options without one: 403', async () => {
    const good = signed('w_640,f_webp');
    const tampered = good.replace('w_640', 'w_641');
    const otherImage = `/transform/${sign(NEW_KEY, 'w_640,f_webp', imageId)}/w_640,f_webp/${await uploadImage(await solidJpeg(100, 100))}`;
    const wrongKey = signed('w_640,f_webp', imageId, 'some-other-key-0123456789abcdefghij');
    for (const path of [tampered, otherImage, wrongKey, `/transform/unsigned/w_640/${imageId}`]) {
      const res = await get(path);
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe('transform_signature_invalid');
    }
  });

  it('accepts a URL signed with the older key during a rotation', async () => {
    const res = await get(signed('w_200,f_webp', imageId, OLD_KEY));
    expect(res.statusCode).toBe(200);
    expect(await sharp(res.rawPayload).metadata()).toMatchObject({ format: 'webp', width: 200 });
  });

  it('serves a configured preset by name without a signature, cached a day (its size may change)', async () => {
    const res = await get(`/transform/unsigned/p_thumb,f_webp/${imageId}`);
    expect(res.statusCode).toBe(200);
    expect(await sharp(res.rawPayload).metadata()).toMatchObject({
      format: 'webp',
      width: 150,
      height: 150,
    });
    // IMAGE_RENDITIONS may change what the name makes: not immutable, asked again after a day.
    expect(res.headers['cache-control']).toBe('public, max-age=86400');
    const again = await get(`/transform/unsigned/p_thumb,f_webp/${imageId}`, {
      'if-none-match': String(res.headers.etag),
    });
    expect([again.statusCode, again.headers['cache-control']]).toEqual([
      304,
      'public, max-age=86400',
    ]);
    // Its ETag alone is its validator: the file it maps to may be older than a copy a cache
    // holds, once IMAGE_RENDITIONS changes, so it has no Last-Modified and date conditions are
    // ignored (RFC 9110 13.1.3-13.1.5: the resource has no modification date).
    expect([res.headers['last-modified'], again.headers['last-modified']]).toEqual([
      undefined,
      undefined,
    ]);
    const etag = String(res.headers.etag);
    const future = new Date(Date.now() + 86_400_000).toUTCString();
    const past = 'Mon, 01 Jan 2001 00:00:00 GMT';
    const byDate = await get(`/transform/unsigned/p_thumb,f_webp/${imageId}`, {
      'if-modified-since': future,
    });
    expect([byDate.statusCode, byDate.headers.etag]).toEqual([200, etag]);
    expect(byDate.rawPayload).toEqual(res.rawPayload);
    const unmodified = await get(`/transform/unsigned/p_thumb,f_webp/${imageId}`, {
      'if-unmodified-since': past,
    });
    expect(unmodified.statusCode).toBe(200);
    // A date in If-Range never names it: the whole result; its ETag does: the range.
    for (const [ifRange, status] of [
      [future, 200],
      [etag, 206],
    ] as const) {
      const ranged = await get(`/transform/unsigned/p_thumb,f_webp/${imageId}`, {
        range: 'bytes=0-9',
        'if-range': ifRange,
      });
      expect({ ifRange, status: ranged.statusCode }).toEqual({ ifRange, status });
    }
    const signedPreset = await get(signed('p_thumb,f_webp'));
    expect(signedPreset.headers['cache-control']).toBe('public, max-age=86400');
    // The same box by its size is the same bytes, and never changes under its URL.
    const bySize = await get(signed('w_150,h_150,c_cover,f_webp'));
    expect(bySize.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const unknown = await get(`/transform/unsigned/p_poster,f_webp/${imageId}`);
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().code).toBe('transform_invalid');
  });

  it('makes a result once: the second request finds it stored and decodes nothing', async () => {
    const path = signed('w_500,h_500,c_cover,f_webp');
    const before = made();
    expect((await get(path)).statusCode).toBe(200);
    expect(made()).toBe(before + 1);
    // Stored before the second request asks.
    expect(derived()).toContain(`derived/${decodeId(imageId)}/512x512-cover-q80.webp`);
    const again = await get(path);
    expect(again.statusCode).toBe(200);
    expect(made()).toBe(before + 1);
  });

  it('makes 20 concurrent identical requests into one result', async () => {
    const path = signed('w_700,f_jpeg,q_70');
    const before = made();
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(path)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
    expect(new Set(answers.map((a) => a.rawPayload.toString('base64'))).size).toBe(1);
    expect(made()).toBe(before + 1);
  });

  it('answers 304 to If-None-Match, 206 to a Range, 416 past the end, and ignores a bad Range', async () => {
    const path = signed('w_400,f_webp');
    const first = await get(path);
    const etag = first.headers.etag as string;
    const notModified = await get(path, { 'if-none-match': etag });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.headers.etag).toBe(etag);
    expect(notModified.rawPayload.length).toBe(0);
    // Compared weakly, through a list, `*` for any (RFC 9110 13.1.2), and every 304 names the
    // ETag a 200 would (15.4.5), If-Modified-Since's too: on every storage alike.
    const lastModified = first.headers['last-modified'] as string;
    const conditions: Record<string, string>[] = [
      { 'if-none-match': `W/${etag}` },
      { 'if-none-match': `"another", ${etag}` },
      { 'if-none-match': '*' },
      { 'if-modified-since': lastModified },
    ];
    for (const headers of conditions) {
      const res = await get(path, headers);
      expect({ headers, status: res.statusCode, etag: res.headers.etag }).toEqual({
        headers,
        status: 304,
        etag,
      });
    }
    // If-None-Match decides alone (RFC 9110 13.1.3): another ETag gets the bytes, whatever the date.
    const changed = await get(path, {
      'if-none-match': '"another"',
      'if-modified-since': first.headers['last-modified'] as string,
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.rawPayload).toEqual(first.rawPayload);
    const range = await get(path, { range: 'bytes=0-99' });
    expect(range.statusCode).toBe(206);
    expect(range.headers['content-range']).toBe(`bytes 0-99/${first.rawPayload.length}`);
    expect(range.rawPayload).toEqual(first.rawPayload.subarray(0, 100));
    const size = first.rawPayload.length;
    const past = await get(path, { range: `bytes=${size}-` });
    expect(past.statusCode).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${size}`);
    expect(past.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(past.json()).toMatchObject({ status: 416, code: 'range_not_satisfiable' });
    // A suffix of no bytes can never be met (RFC 9110 14.1.3): 416 on every storage (S3 sent it all).
    const empty = await get(path, { range: 'bytes=-0' });
    expect(empty.statusCode).toBe(416);
    expect(empty.headers['content-range']).toBe(`bytes */${size}`);
    // A current copy is 304 before its Range is looked at (RFC 9110 13.2.2), even a range past
    // the end (S3 answered 416); another copy gets its range, or its refusal, as without it.
    const current = await get(path, { range: `bytes=${size}-`, 'if-none-match': etag });
    expect(current.statusCode).toBe(304);
    expect(current.headers.etag).toBe(etag);
    const stale = await get(path, { range: 'bytes=0-99', 'if-none-match': '"another"' });
    expect(stale.statusCode).toBe(206);
    expect(stale.rawPayload).toEqual(first.rawPayload.subarray(0, 100));
    const stalePast = await get(path, { range: `bytes=${size}-`, 'if-none-match': '"another"' });
    expect(stalePast.statusCode).toBe(416);
    // A suffix longer than the result is all of it (RFC 9110 14.1.2), not a range past the end.
    const suffix = await get(path, { range: `bytes=-${size + 10}` });
    expect(suffix.statusCode).toBe(206);
    expect(suffix.headers['content-range']).toBe(`bytes 0-${size - 1}/${size}`);
    expect(suffix.rawPayload).toEqual(first.rawPayload);
    // Several ranges that are not one: the whole result on every storage, never the first alone.
    for (const ranges of ['bytes=0-1,5-6', 'bytes=0-99, 50-149', `bytes=0-0,-${size + 10}`]) {
      const several = await get(path, { range: ranges });
      expect({ ranges, status: several.statusCode }).toEqual({ ranges, status: 200 });
      expect(several.rawPayload).toEqual(first.rawPayload);
    }
    // One range and an empty element is one range.
    const trailing = await get(path, { range: 'bytes=0-99,' });
    expect(trailing.statusCode).toBe(206);
    expect(trailing.rawPayload).toEqual(first.rawPayload.subarray(0, 100));
    // Not a range (RFC 9110 lets a server ignore it): the whole result, as without the header.
    for (const bad of ['bytes=abc', 'bytes=9-5', 'items=0-9']) {
      const whole = await get(path, { range: bad });
      expect({ bad, status: whole.statusCode }).toEqual({ bad, status: 200 });
      expect(whole.rawPayload).toEqual(first.rawPayload);
    }
  });

  it('answers HEAD with the length of GET, and If-Range and If-Unmodified-Since as RFC 9110 says', async () => {
    const path = signed('w_400,f_webp');
    const first = await get(path);
    const size = first.rawPayload.length;
    const etag = first.headers.etag as string;
    const head = await app.inject({ method: 'HEAD', url: path });
    expect(head.statusCode).toBe(200);
    expect(head.headers).toMatchObject({ 'content-length': String(size), etag });
    expect(head.rawPayload.length).toBe(0);
    // A Range under If-Range: a part only of the version the client holds, else the whole.
    const part = await get(path, { range: 'bytes=0-9', 'if-range': etag });
    expect(part.statusCode).toBe(206);
    expect(part.rawPayload).toEqual(first.rawPayload.subarray(0, 10));
    const lastModified = first.headers['last-modified'] as string;
    expect((await get(path, { range: 'bytes=0-9', 'if-range': lastModified })).statusCode).toBe(
      206,
    );
    for (const other of ['"another"', `W/${etag}`, 'Mon, 01 Jan 2001 00:00:00 GMT']) {
      const whole = await get(path, { range: 'bytes=0-9', 'if-range': other });
      expect({ other, status: whole.statusCode }).toEqual({ other, status: 200 });
      expect(whole.rawPayload).toEqual(first.rawPayload);
    }
    // Changed since a date before it was made: the precondition fails.
    const unmodified = await get(path, { 'if-unmodified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' });
    expect(unmodified.statusCode).toBe(412);
    expect(unmodified.json()).toMatchObject({ code: 'precondition_failed' });
    expect((await get(path, { 'if-match': '"another"' })).statusCode).toBe(412);
    expect((await get(path, { 'if-match': etag })).statusCode).toBe(200);
    // If-Match compares strongly (RFC 9110 13.1.1): a weak tag never matches.
    expect((await get(path, { 'if-match': `W/${etag}` })).statusCode).toBe(412);
    expect((await get(path, { 'if-match': `W/${etag}, ${etag}` })).statusCode).toBe(200);
  });

  it('serves a Range under If-Range for its very date alone, and ignores dates that are none', async () => {
    const { id, url } = await uploadToProduct(await solidJpeg(640, 480));
    // On local disk the service serves the original too (/media); S3 serves its own.
    const original = driver === 'local' ? [url.slice(PUBLIC_BASE.length)] : [];
    for (const path of [...original, signed('w_400,f_webp', id)]) {
      const first = await get(path);
      expect(first.statusCode).toBe(200);
      const lastModified = Date.parse(first.headers['last-modified'] as string);
      // A later date is not the file's (RFC 9110 13.1.5): the whole file, as for an earlier one.
      const later = new Date(lastModified + 86_400_000).toUTCString();
      const whole = await get(path, { range: 'bytes=0-9', 'if-range': later });
      expect({ path, status: whole.statusCode }).toEqual({ path, status: 200 });
      expect(whole.rawPayload).toEqual(first.rawPayload);
      // Not HTTP-dates (RFC 9110 13.1.3, 13.1.4): ignored, not read as the year 2099 or 2001.
      for (const [name, value] of [
        ['if-modified-since', '2099'],
        ['if-modified-since', '2099-01-01'],
        ['if-unmodified-since', '2001'],
      ]) {
        const res = await get(path, { [name]: value });
        expect({ path, value, status: res.statusCode }).toEqual({ path, value, status: 200 });
      }
      // The obsolete asctime form of a later date (not past now, RFC 9110 13.1.3) is one: 304.
      const asctime = new Date(Math.floor(Date.now() / 1000) * 1000)
        .toUTCString()
        .replace(
          /^(\w+), (\d+) (\w+) (\d+) ([\d:]+) GMT$/,
          (_all, day, date, month, year, time) =>
            `${day} ${month} ${String(Number(date)).padStart(2, ' ')} ${time} ${year}`,
        );
      const notModified = await get(path, { 'if-modified-since': asctime });
      expect({ path, asctime, status: notModified.statusCode }).toEqual({
        path,
        asctime,
        status: 304,
      });
    }
  });

  it('answers 500 image_original_unreadable, not 400, for an original damaged in storage', async () => {
    const { id } = await uploadToProduct(await solidJpeg(640, 480));
    const [{ storage_key: key }] = await app
      .get(DataSource)
      .query<{ storage_key: string }[]>('SELECT storage_key FROM images WHERE id = $1', [
        decodeId(id),
      ]);
    const storage = app.get<StorageProvider>(STORAGE_PROVIDER);
    const truncated = (await solidJpeg(640, 480)).subarray(0, 200);
    await storage.put(key, truncated, {
      contentType: 'image/jpeg',
      ...deliveryHeaders('image/jpeg'),
    });
    const res = await get(signed('w_200,f_webp', id));
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ code: 'image_original_unreadable' });
    expect(derived(id)).toEqual([]);
  });

  it('gives the original size to a request for more, and pads contain to the box', async () => {
    const big = await get(signed('w_3000,f_png'));
    expect(await sharp(big.rawPayload).metadata()).toMatchObject({ width: 800, height: 600 });
    const padded = await get(signed('w_256,h_256,c_contain,f_png'));
    expect(await sharp(padded.rawPayload).metadata()).toMatchObject({ width: 256, height: 256 });
    const inside = await get(signed('w_256,h_256,c_inside,f_webp,dpr_2'));
    expect(await sharp(inside.rawPayload).metadata()).toMatchObject({ width: 512, height: 384 });
  });

  it('refuses malformed options (400) and an unknown image (404) with problem+json', async () => {
    for (const options of [
      'w_0',
      'w_abc',
      'x_1',
      'w_1,w_2',
      'q_101',
      'dpr_9',
      'w_99999999999',
      'f_tiff',
    ]) {
      const res = await get(transformPath(options, imageId));
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('transform_invalid');
    }
    const nul = await get(`/transform/x/w_1%00/${imageId}`);
    expect(nul.statusCode).toBe(400);
    const missing = encodeShortId(randomUUID());
    const res = await get(signed('w_100', missing));
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('image_not_found');
    // Not an id at all: 400 invalid_id, as on every route (and as the API document says).
    for (const malformed of [
      signed('w_100', 'not-an-id'),
      '/transform/unsigned/p_card/not-an-id',
    ]) {
      const bad = await get(malformed);
      expect({ status: bad.statusCode, code: bad.json().code }).toEqual({
        status: 400,
        code: 'invalid_id',
      });
    }
  });

  it('refuses an unknown preset 400 transform_invalid, whatever the signature and image', async () => {
    // Decided with the other options, before the signature and the image: it was 404 for an
    // image not found, or 400 invalid_id for a malformed id, where the README says 400.
    const missing = encodeShortId(randomUUID());
    for (const url of [
      `/transform/unsigned/p_poster,f_webp/${imageId}`,
      `/transform/unsigned/p_poster,f_webp/${missing}`,
      '/transform/unsigned/p_poster,f_webp/not-an-id',
      signed('p_poster', imageId),
      signed('p_poster', missing),
      signed('p_poster', 'not-an-id'),
      `/transform/AAAAAAAAAAAAAAAAAAAAAA/p_poster/${missing}`,
    ]) {
      const res = await get(url);
      expect({ url, status: res.statusCode, code: res.json().code }).toEqual({
        url,
        status: 400,
        code: 'transform_invalid',
      });
      expect(res.json().detail).toBe('No preset named poster.');
    }
  });

  it('redirects (308) every other spelling of a transform URL to the one the service hands out', async () => {
    const uuid = decodeId(imageId) as string;
    const encoded = (id: string) => `%${id.charCodeAt(0).toString(16)}${id.slice(1)}`;
    const preset = `/transform/unsigned/p_thumb,f_webp/${imageId}`;
    const sig = signed('w_200,f_webp').split('/')[2];
    const byKey = `/transform/${sig}/w_200,f_webp/${imageId}`;
    const spellings: [string, string][] = [
      [`/transform/unsigned/p_thumb,f_webp/${uuid}`, preset],
      [`/transform/unsigned/p_thumb,f_webp/${uuid.toUpperCase()}`, preset],
      [`/transform/unsigned/p_thumb,f_webp/${encoded(imageId)}`, preset],
      [`/transform/unsigned/p_thumb%2Cf_webp/${imageId}`, preset],
      [`/transform/unsigned/f_webp,p_thumb/${imageId}`, preset],
      [`/transform/unsigned/p_thumb,f_webp/${uuid}?w=1`, `${preset}?w=1`],
      [`/transform/${sig}/w_200%2cf_webp/${imageId}`, byKey],
      [`/transform/${sig}/w_200,f_webp/${encoded(imageId)}`, byKey],
    ];
    for (const [spelling, canonical] of spellings) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await app.inject({ method, url: spelling });
        expect({
          spelling,
          method,
          status: res.statusCode,
          location: res.headers.location,
        }).toEqual({ spelling, method, status: 308, location: `${PUBLIC_BASE}${canonical}` });
        expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      }
    }
    for (const canonical of [preset, byKey]) expect((await get(canonical)).statusCode).toBe(200);
    // A signed URL's id is as its signature spells it; a trailing slash is no transform URL.
    expect((await get(`/transform/${sig}/w_200,f_webp/${uuid}`)).statusCode).toBe(403);
    expect((await get(`${preset}/`)).statusCode).toBe(404);
    // Nor is one with an empty segment, whichever (before: the options' 400, the signature's 403).
    for (const spelling of [
      `/transform/unsigned//${imageId}`,
      `/transform//p_thumb,f_webp/${imageId}`,
      `/transform/unsigned/p_thumb,f_webp//${imageId}`,
    ]) {
      const res = await get(spelling);
      expect({ spelling, status: res.statusCode, code: res.json<{ code: string }>().code }).toEqual(
        { spelling, status: 404, code: 'route_not_found' },
      );
    }
  });

  it("deletes an image's files and results with it, before the DELETE answers", async () => {
    const { id, productId } = await uploadToProduct(await solidJpeg(300, 300));
    expect((await get(signed('w_128,f_webp', id))).statusCode).toBe(200);
    expect(derived(id)).toHaveLength(1);
    const res = await call(app, 'DELETE', `/api/v1/products/${productId}/images/${id}`, admin);
    expect(res.statusCode).toBe(204);
    // No delivery URL serves it any more: not the storage's own (its objects), nor a transform URL.
    expect(backend.stored().filter((key) => key.includes(decodeId(id) as string))).toEqual([]);
    expect((await get(signed('w_128,f_webp', id))).statusCode).toBe(404);
  });

  it('leaves a result of an existing image to the orphan sweep, and sweeps one whose image is gone', async () => {
    expect((await get(signed('w_96,f_webp'))).statusCode).toBe(200);
    const kept = `derived/${decodeId(imageId)}/96x72-cover-q80.webp`;
    expect(derived()).toContain(kept);
    // A result written for an image deleted meanwhile (a making that outlived its image).
    const gone = `derived/${randomUUID()}/96x72-cover-q80.webp`;
    await app.get<StorageProvider>(STORAGE_PROVIDER).put(gone, Buffer.from('x'), {
      contentType: 'image/webp',
      cacheControl: 'public, max-age=31536000, immutable',
    });
    const longAgo = new Date(Date.now() - 48 * 3600 * 1000);
    for (const key of [kept, gone]) backend.backdate(key, longAgo);
    const sweep = await app.get(OrphanFileSweeper).sweep();
    expect(sweep.deleted).toBe(1);
    expect(backend.stored()).toContain(kept);
    expect(backend.stored()).not.toContain(gone);
  });

  it('gives every image in API responses srcsets per preset whose URLs serve what they claim', async () => {
    const { id, productId } = await uploadToProduct(await solidJpeg(800, 600));
    const res = await call(app, 'GET', `/api/v1/products/${productId}/images/${id}`, admin);
    expect(res.statusCode).toBe(200);
    const card = res.json().responsive.card;
    // card is 500×500 (attention): 1× on the ladder is 512; 1.5× and 2× are capped by the
    // original's 600 px height, the same result, offered once.
    expect(card).toMatchObject({ width: 512, height: 512, type: 'image/jpeg' });
    for (const format of ['avif', 'webp', 'fallback'] as const) {
      const candidates = (card.srcset[format] as string).split(', ').map((c) => c.split(' '));
      expect(candidates.map(([, w]) => w)).toEqual(['512w', '600w']);
      for (const [url, w] of candidates) {
        expect(url.startsWith(`${PUBLIC_BASE}/transform/`)).toBe(true);
        const served = await get(url.slice(PUBLIC_BASE.length));
        expect(served.statusCode).toBe(200);
        const meta = await sharp(served.rawPayload).metadata();
        expect(meta.width).toBe(parseInt(w, 10));
        expect(meta.format).toBe({ avif: 'heif', webp: 'webp', fallback: 'jpeg' }[format]);
      }
    }
    expect(card.src).toBe(card.srcset.fallback.split(' ')[0]);
    // Stand-alone images carry them too.
    const body = multipart({ purpose: 'product' }, [
      { data: await solidJpeg(300, 200), contentType: 'image/jpeg' },
    ]);
    const asset = await call(app, 'POST', '/api/v1/images', admin, body.payload, {
      headers: body.headers,
    });
    expect(asset.statusCode).toBe(201);
    const thumb = asset.json().responsive.thumb;
    // thumb is 150×150: on the ladder, 160.
    expect(thumb).toMatchObject({ width: 160, height: 160, type: 'image/jpeg' });
    const served = await get(thumb.src.slice(PUBLIC_BASE.length));
    expect(await sharp(served.rawPayload).metadata()).toMatchObject({ width: 160, height: 160 });
  });

  it('caches the results of an expiring upload no longer than its expiry, not a year', async () => {
    // Past expires_at the image is 404 here: a cache keeping it immutable for a year would not ask.
    const body = multipart({ purpose: 'product', expires_in: '3600' }, [
      { data: await solidJpeg(300, 200), contentType: 'image/jpeg' },
    ]);
    const asset = await call(app, 'POST', '/api/v1/images', admin, body.payload, {
      headers: body.headers,
    });
    expect(asset.statusCode).toBe(201);
    const { id } = asset.json();
    const maxAge = (res: { headers: Record<string, unknown> }) =>
      Number(/^public, max-age=(\d+)$/.exec(String(res.headers['cache-control']))?.[1]);
    const res = await get(signed('w_64,f_jpeg', id));
    expect(res.statusCode).toBe(200);
    expect(maxAge(res)).toBeGreaterThan(3500);
    expect(maxAge(res)).toBeLessThanOrEqual(3600);
    const revalidated = await get(signed('w_64,f_jpeg', id), {
      'if-none-match': String(res.headers.etag),
    });
    expect(revalidated.statusCode).toBe(304);
    expect(maxAge(revalidated)).toBeLessThanOrEqual(3600);
    const preset = await get(`/transform/unsigned/p_thumb,f_jpeg/${id}`);
    expect(preset.statusCode).toBe(200);
    expect(maxAge(preset)).toBeLessThanOrEqual(3600);
  });

  it('keeps an animated GIF animated in WebP (chosen by f_auto over AVIF), a still in JPEG', async () => {
    const frames = 4;
    const gif = await animation('gif', 120, 90, frames);
    const { id, productId } = await uploadToNewProduct(app, admin, gif, 'Moving', 'image/gif');
    const webp = await get(signed('w_64,f_auto', id), { accept: AVIF_WEBP });
    expect(webp.headers['content-type']).toBe('image/webp');
    expect(await sharp(webp.rawPayload).metadata()).toMatchObject({ pages: frames, width: 64 });
    const jpeg = await get(signed('w_64,f_jpeg', id));
    const still = await sharp(jpeg.rawPayload).metadata();
    expect(still.format).toBe('jpeg');
    expect(still.pages ?? 1).toBe(1);
    // Its srcsets fall back to GIF (f_gif), for browsers that take neither AVIF nor WebP.
    const res = await call(app, 'GET', `/api/v1/products/${productId}/images/${id}`, admin);
    const thumb = res.json().responsive.thumb;
    expect(thumb.type).toBe('image/gif');
    for (const url of [thumb.src, ...srcsetUrls(thumb.srcset.fallback)]) {
      const served = await get(url.slice(PUBLIC_BASE.length));
      expect(served.statusCode).toBe(200);
      expect(served.headers['content-type']).toBe('image/gif');
      expect(await sharp(served.rawPayload).metadata()).toMatchObject({ pages: frames });
    }
  });

  it("offers an inside preset up to the original's own size on screens of every density", async () => {
    // large is 1200×1200 inside. A 1600×1200 original at 1× (1280 on the ladder) fits 1280×960;
    // at 1.5× and 2× the box passes the original, which is offered whole: 1600×1200.
    const { id, productId } = await uploadToProduct(await solidJpeg(1600, 1200));
    const res = await call(app, 'GET', `/api/v1/products/${productId}/images/${id}`, admin);
    const large = res.json().responsive.large;
    expect(large).toMatchObject({ width: 1280, height: 960 });
    const candidates = (large.srcset.webp as string).split(', ').map((c) => c.split(' '));
    expect(candidates.map(([, w]) => w)).toEqual(['1280w', '1600w']);
    for (const [url, w] of candidates) {
      const served = await get(url.slice(PUBLIC_BASE.length));
      expect(await sharp(served.rawPayload).metadata()).toMatchObject({
        width: parseInt(w, 10),
        height: (parseInt(w, 10) * 3) / 4,
      });
    }
  });

  // Two instances share a PostgreSQL server only: the embedded database belongs to one process.
  (process.env.TEST_DATABASE_URL ? it : it.skip)(
    'makes a result once across two instances sharing the database and storage',
    async () => {
      // A second instance of the service (its own single-flight, as another process has) on the
      // same database and storage (TEST_DATABASE_URL: a
      // PostgreSQL server, where the advisory lock is what keeps them from both making it).
      const second = await createApp({
        env: {
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          ...t.db.env,
          ...backend.env,
          PUBLIC_BASE_URL: PUBLIC_BASE,
          DELIVERY_SIGNING_KEYS: `${NEW_KEY},${OLD_KEY}`,
        },
      });
      try {
        const path = signed('w_900,f_webp,q_61');
        const before = made() + second.get(TransformResults).made;
        const answers = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 ? second : app).inject({ method: 'GET', url: path }),
          ),
        );
        expect(answers.map((a) => a.statusCode)).toEqual(Array(10).fill(200));
        expect(made() + second.get(TransformResults).made).toBe(before + 1);
      } finally {
        await second.close();
      }
    },
  );
});

describe('Transform URLs of long, narrow images (MAX_IMAGE_PIXELS 1,000,000)', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let admin: Credential;

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    t = await startTestApp({
      ...backend.env,
      DELIVERY_SIGNING_KEYS: NEW_KEY,
      MAX_IMAGE_PIXELS: '1000000',
    });
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  const image = async (path: string) => {
    const res = await t.app.inject({ method: 'GET', url: path });
    expect({ status: res.statusCode, body: res.statusCode === 200 ? '' : res.body }).toEqual({
      status: 200,
      body: '',
    });
    return sharp(res.rawPayload).metadata();
  };

  it('pads a banner into a box of at most the limit, not 400 image_too_many_pixels', async () => {
    // 200,000 pixels, in a 2000×2000 square (4,000,000): the square is scaled down to 1000×1000.
    const { id } = await uploadToNewProduct(t.app, admin, await solidJpeg(2000, 100), 'Banner');
    const padded = await image(transformPath('w_2048,h_2048,c_contain,f_png', id));
    expect(padded).toMatchObject({ format: 'png', width: 1000, height: 1000 });
  });

  it("scales an image longer than WebP's 16383 pixels down to it, not a 500", async () => {
    // 40×20000 is 800,000 pixels, within the limit; every format is held to WebP's longest side.
    const { id } = await uploadToNewProduct(t.app, admin, await solidJpeg(40, 20000), 'Strip');
    for (const options of ['f_webp', 'f_jpeg', 'w_40,f_png', 'w_64,c_inside,f_webp']) {
      expect(await image(transformPath(options, id))).toMatchObject({ width: 33, height: 16383 });
    }
  });

  it('makes the first frame alone of an animation whose frames in the box pass the limit', async () => {
    // 10 frames of 400×20 (80,000 pixels) padded to 400×400: 1,600,000 pixels made in all.
    const { id } = await uploadToNewProduct(
      t.app,
      admin,
      await animation('gif', 400, 20, 10),
      'Ticker',
      'image/gif',
    );
    const still = await image(transformPath('w_400,h_400,c_contain,f_webp', id));
    expect(still).toMatchObject({ format: 'webp', width: 400, height: 400 });
    expect(still.pages ?? 1).toBe(1);
    // Stored under a name with the limit (1,000,000 in base 36): raised, it is made again.
    expect(backend.stored()).toContain(`derived/${decodeId(id)}/400x400-contain-q80-plfls.webp`);
    // Within the limit, it stays an animation.
    const moving = await image(transformPath('w_400,f_webp', id));
    expect(moving).toMatchObject({ width: 400, height: 20, pages: 10 });
  });

  // Last: an application made beside this one takes over passport's strategies (a process-wide
  // registry), and once it is closed this one's logins no longer answer. Transform URLs need none.
  it('serves the transform URLs of an image stored when the limit was higher', async () => {
    // 1,500,000 pixels, stored while MAX_IMAGE_PIXELS was 2,000,000.
    const higher = await createApp({
      env: testAppEnv(t.db, {
        ...backend.env,
        DELIVERY_SIGNING_KEYS: NEW_KEY,
        MAX_IMAGE_PIXELS: '2000000',
      }),
    });
    let id: string;
    try {
      const token = await login(higher, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
      ({ id } = await uploadToNewProduct(higher, { bearer: token }, await solidJpeg(1500, 1000)));
    } finally {
      await higher.close();
    }
    // Under 1,000,000: the URLs handed out for it still answer, a thumbnail as the whole.
    expect(await image(transformPath('w_200,f_webp', id))).toMatchObject({ width: 200 });
    expect(await image(transformPath('w_1200,f_png', id))).toMatchObject({ format: 'png' });
  });
});

describe('Transform URLs under load', () => {
  let backend: StorageBackend;
  let t: TestApp;

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    // One image made at a time and none waiting: a second distinct result at once is refused.
    t = await startTestApp({
      ...backend.env,
      DELIVERY_SIGNING_KEYS: NEW_KEY,
      IMAGE_PROCESSING_CONCURRENCY: '1',
      IMAGE_PROCESSING_QUEUE_LIMIT: '0',
    });
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  it('answers 503 server_busy with Retry-After past the processing limits, and stores nothing for it', async () => {
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const { id } = await uploadToNewProduct(t.app, admin, await solidJpeg(1600, 1200), 'Busy');
    const paths = [400, 512, 640, 800, 1024, 1280].map((w) => {
      const options = `w_${w},f_avif`;
      return transformPath(options, id);
    });
    const answers = await Promise.all(paths.map((url) => t.app.inject({ method: 'GET', url })));
    const busy = answers.filter((a) => a.statusCode === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.statusCode === 200 || a.statusCode === 503)).toBe(true);
    for (const res of busy) {
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json().code).toBe('server_busy');
    }
    const made = backend.stored().filter((key) => key.startsWith('derived/'));
    expect(made).toHaveLength(answers.length - busy.length);
    // The originals copied into the spool to make them are gone, made or refused.
    expect(filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'))).toEqual([]);
    // Once the queue is free, the same URL is made.
    const again = await t.app.inject({ method: 'GET', url: paths[answers.indexOf(busy[0])] });
    expect(again.statusCode).toBe(200);
  });

  it('refuses a result while the only slot is busy before reading its original from storage', async () => {
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const { id } = await uploadToNewProduct(t.app, admin, await solidJpeg(400, 300), 'Held');
    const url = transformPath('w_200,f_webp', id);
    const metrics = t.app.get(Metrics);
    const sample = async (name: string, labels: Record<string, string> = {}) =>
      metricValue(await metrics.scrape(), name, labels);
    // The only slot held by an image whose bytes have not arrived (see whileSlotHeld).
    await whileSlotHeld(t.app, async () => {
      const reads = { operation: 'read' };
      const readsBefore = await sample('storage_operation_duration_seconds_count', reads);
      const busyBefore = await sample('image_processing_server_busy_total', {
        operation: 'transform',
      });
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json().code).toBe('server_busy');
      // Its original was not read from storage (nor copied into the spool) only to be refused.
      expect(await sample('storage_operation_duration_seconds_count', reads)).toBe(readsBefore);
      expect(await sample('image_processing_server_busy_total', { operation: 'transform' })).toBe(
        busyBefore + 1,
      );
      expect(filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'))).toEqual([]);
    });
    // The slot free again, the same URL is made.
    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(200);
  });
});

/** `provider`, with `before(key)` awaited before each write of a transform result (`derived/…`). */
const beforeResultPuts = <P extends StorageProvider>(
  provider: P,
  before: (key: string) => Promise<void>,
): P =>
  new Proxy(provider, {
    get(target, property) {
      if (property === 'put') {
        return async (...args: Parameters<StorageProvider['put']>) => {
          if (args[0].startsWith('derived/')) await before(args[0]);
          return target.put(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });

// The leases between processes exist on a PostgreSQL server only (one process owns PGlite).
(process.env.TEST_DATABASE_URL ? describe : describe.skip)(
  'Transform results being made, on a PostgreSQL server',
  () => {
    let backend: StorageBackend;
    let t: TestApp;
    /** The results waiting to be written, held until `open` is called. */
    const held: string[] = [];
    let open = () => {};
    let gate = Promise.resolve();

    beforeAll(async () => {
      backend = await startStorageBackend('local');
      // Two connections, three makings at once.
      t = await startTestApp(
        {
          ...backend.env,
          DELIVERY_SIGNING_KEYS: NEW_KEY,
          DATABASE_POOL_SIZE: '2',
          IMAGE_PROCESSING_CONCURRENCY: '3',
        },
        {
          wrapStorage: (provider) =>
            beforeResultPuts(provider, async (key) => {
              held.push(key);
              await gate;
            }),
        },
      );
    });

    afterAll(async () => {
      open();
      await t?.close();
      await backend?.close();
    });

    it('hold no database connection: more of them than the pool has, and the API still answers', async () => {
      const admin = {
        bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
      };
      const image = await uploadToNewProduct(t.app, admin, await solidJpeg(400, 300), 'Pool');
      gate = new Promise((resolve) => (open = resolve));
      const answers = Promise.all(
        ['webp', 'jpeg', 'png'].map((format) =>
          t.app.inject({ method: 'GET', url: transformPath(`w_200,f_${format}`, image.id) }),
        ),
      );
      await eventually(() => held.length === 3, 'three results made and waiting to be stored');
      const leases = () =>
        t.app
          .get(DataSource)
          .query<{ n: number }[]>('SELECT count(*)::int AS n FROM transform_result_leases');
      expect(await leases()).toEqual([{ n: 3 }]);
      const gallery = await call(t.app, 'GET', `/api/v1/products/${image.productId}/images`, admin);
      expect(gallery.statusCode).toBe(200);
      open();
      expect((await answers).map((res) => res.statusCode)).toEqual([200, 200, 200]);
      expect(await leases()).toEqual([{ n: 0 }]);
    });
  },
);

describe('A transform result made while its image is deleted', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let admin: Credential;
  /** Runs once, just before the next transform result is written to storage. */
  let beforeResultPut: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    t = await startTestApp(
      { ...backend.env, DELIVERY_SIGNING_KEYS: NEW_KEY },
      {
        wrapStorage: (provider) =>
          beforeResultPuts(provider, async () => {
            const hook = beforeResultPut;
            beforeResultPut = undefined;
            await hook?.();
          }),
      },
    );
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  it('leaves the pool free: 20 results at once, more than its 10 connections', async () => {
    const { id } = await uploadToNewProduct(t.app, admin, await solidJpeg(400, 300), 'Many');
    // 20 different results, more than the pool's 10 connections, each checked against its image
    // once stored.
    const urls = ['webp', 'jpeg', 'png', 'avif'].flatMap((format) =>
      [50, 60, 70, 80, 90].map((quality) => {
        const options = `w_200,f_${format},q_${quality}`;
        return transformPath(options, id);
      }),
    );
    const answers = await Promise.all(urls.map((url) => t.app.inject({ method: 'GET', url })));
    const outcomes = answers.map((res) =>
      res.statusCode === 200 ? 200 : `${res.statusCode} ${res.json().code}`,
    );
    // The processing queue may turn some away (503 server_busy); the database must not.
    expect(outcomes.filter((o) => o !== 200 && o !== '503 server_busy')).toEqual([]);
    const me = await call(t.app, 'GET', '/api/v1/auth/me', admin);
    expect(me.statusCode).toBe(200);
  });

  it('is not left in storage once the deletion has run: 404, and nothing of the image stays', async () => {
    const uploaded = await uploadToNewProduct(t.app, admin, await solidJpeg(400, 300), 'Gone');
    const { id } = uploaded;
    const gallery = `/api/v1/products/${uploaded.productId}/images`;
    const ofImage = () => backend.stored().filter((key) => key.includes(decodeId(id)!));
    // The image is deleted, and its files with it, while the result is being made.
    beforeResultPut = async () => {
      expect((await call(t.app, 'DELETE', `${gallery}/${id}`, admin)).statusCode).toBe(204);
      await eventually(() => ofImage().length === 0, "the image's files to be deleted");
    };
    const options = 'w_200,f_webp';
    const res = await t.app.inject({
      method: 'GET',
      url: transformPath(options, id),
    });
    expect(beforeResultPut).toBeUndefined();
    expect({ status: res.statusCode, code: res.json().code }).toEqual({
      status: 404,
      code: 'image_not_found',
    });
    expect(ofImage()).toEqual([]);
  });
});

/**
 * A bucket that is gone (deleted, or S3_BUCKET naming another after a change) is the storage
 * failing, not every image missing: S3 answers 404 for it too (`NoSuchBucket`; a HEAD's 404 says
 * not which). Taken for a missing object, transform URLs answered `404 image_not_found`, which
 * CDNs keep, and a rendition rebuild failed each image for good as its original missing.
 */
describe('Transform URLs when the S3 bucket is gone', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let admin: Credential;

  beforeAll(async () => {
    backend = await startStorageBackend('s3');
    t = await startTestApp({
      ...backend.env,
      PUBLIC_BASE_URL: PUBLIC_BASE,
      DELIVERY_SIGNING_KEYS: NEW_KEY,
    });
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  it('answers 502 storage_unavailable, and the provider fails rather than find nothing', async () => {
    const { id } = await uploadToNewProduct(t.app, admin, await solidJpeg(800, 600));
    const made = await t.app.inject({ method: 'GET', url: transformPath('w_320,f_webp', id) });
    expect(made.statusCode).toBe(200);
    const storage = t.app.get<StorageProvider>(STORAGE_PROVIDER);
    const [original] = backend.stored().filter((key) => /\/original\.jpg$/.test(key));
    // A key that is not there, in a bucket that is: nothing, as before.
    const absent = original.replace('original.jpg', 'absent.jpg');
    expect(await storage.exists(absent)).toBe(false);
    expect(await storage.read!(absent)).toBeUndefined();
    const get = { method: 'GET', headers: {} };
    expect(await storage.serve!(absent, get)).toEqual({ kind: 'not_found' });

    backend.deleteBucket!();

    for (const path of [
      transformPath('w_320,f_webp', id), // a result made before
      transformPath('w_480,f_webp', id), // a new one
      `/transform/unsigned/p_thumb,f_webp/${id}`,
    ]) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await t.app.inject({ method, url: path });
        expect({ path, method, status: res.statusCode }).toEqual({ path, method, status: 502 });
        if (method === 'GET') expect(res.json().code).toBe('storage_unavailable');
      }
    }
    for (const key of [original, absent]) {
      await expect(storage.exists(key)).rejects.toThrow(StorageError);
      await expect(storage.read!(key)).rejects.toThrow(StorageError);
      await expect(storage.serve!(key, get)).rejects.toThrow(StorageError);
      await expect(storage.serve!(key, { method: 'HEAD', headers: {} })).rejects.toThrow(
        StorageError,
      );
    }
  });
});

describe('A preset asked for by name after IMAGE_RENDITIONS changes', () => {
  const BEFORE = 'thumb:150x150:cover,card:500x500:attention,large:1200x1200:inside';
  const AFTER = 'thumb:150x150:cover,card:800x800:attention,large:1200x1200:inside';
  let backend: StorageBackend;
  let t: TestApp;

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    t = await startTestApp({
      ...backend.env,
      DELIVERY_SIGNING_KEYS: NEW_KEY,
      IMAGE_RENDITIONS: BEFORE,
    });
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  // The file `p_card` maps to after the change may have been made before the copy a cache holds
  // (here for the 1.5× srcset candidate of the 500×500 card): its date goes back in time.
  it('is not answered 304 to If-Modified-Since once it makes another image', async () => {
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const { id } = await uploadToNewProduct(t.app, admin, await solidJpeg(1600, 1200), 'Preset');
    const srcset = await t.app.inject({
      method: 'GET',
      url: transformPath('w_800,h_800,c_attention,f_webp', id),
    });
    expect(srcset.statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const url = `/transform/unsigned/p_card,f_webp/${id}`;
    const cached = await t.app.inject({ method: 'GET', url });
    expect(await sharp(cached.rawPayload).metadata()).toMatchObject({ width: 500, height: 500 });
    const cachedAt = new Date().toUTCString();

    // The operator changes the card; an instance starts with it.
    const changed = await createApp({
      env: testAppEnv(t.db, {
        ...backend.env,
        DELIVERY_SIGNING_KEYS: NEW_KEY,
        IMAGE_RENDITIONS: AFTER,
      }),
    });
    try {
      // A cache revalidates its copy within the day, by date or by ETag: the new image.
      for (const headers of [
        { 'if-modified-since': String(cached.headers['last-modified'] ?? cachedAt) },
        { 'if-modified-since': cachedAt },
        { 'if-none-match': String(cached.headers.etag) },
      ]) {
        const res = await changed.inject({ method: 'GET', url, headers });
        expect({ headers, status: res.statusCode }).toEqual({ headers, status: 200 });
        expect(await sharp(res.rawPayload).metadata()).toMatchObject({ width: 800, height: 800 });
      }
    } finally {
      await changed.close();
    }
  });
});
