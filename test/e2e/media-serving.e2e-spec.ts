import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Response } from 'light-my-request';
import { solidJpeg } from '../support/fixtures';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * /media as HTTP caches and media players use it: validators, conditional requests (304, 412),
 * byte ranges (206, 416), HEAD, the delivery headers of an SVG, and 404 problem+json for whatever
 * is not a regular file below the storage folder.
 */

const P = '0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const I = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const JPEG = `/media/products/${P}/${I}/original.jpg`;
const SVG = `/media/uploads/${I}/original.svg`;

function expectNotFound(res: Response): void {
  expect(res.statusCode).toBe(404);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json<{ code: string }>().code).toBe('media_not_found');
}

describe('/media serving', () => {
  let t: TestApp;
  let storageDir: string;
  let outsideDir: string;
  let jpeg: Buffer;

  beforeAll(async () => {
    storageDir = mkdtempSync(join(tmpdir(), 'pis-media-serving-'));
    outsideDir = mkdtempSync(join(tmpdir(), 'pis-media-outside-'));
    jpeg = await solidJpeg();
    const files: Record<string, string | Buffer> = {
      [`products/${P}/${I}/original.jpg`]: jpeg,
      [`uploads/${I}/original.svg`]: '<svg xmlns="http://www.w3.org/2000/svg"/>',
    };
    for (const [key, content] of Object.entries(files)) {
      mkdirSync(dirname(join(storageDir, key)), { recursive: true });
      writeFileSync(join(storageDir, key), content);
    }
    writeFileSync(join(outsideDir, 'secret.jpg'), 'not for /media');
    symlinkSync(join(outsideDir, 'secret.jpg'), join(storageDir, `products/${P}/${I}/card.jpg`));
    symlinkSync(outsideDir, join(storageDir, 'uploads', P));
    mkdirSync(join(storageDir, `products/${P}/${I}/large.webp`));
    t = await startTestApp({ STORAGE_LOCAL_DIR: storageDir });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(storageDir, { recursive: true, force: true });
    rmSync(outsideDir, { recursive: true, force: true });
  });

  const get = (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') =>
    t.app.inject({ method, url, headers });

  it('serves the file with its type, a strong ETag, Last-Modified, immutable caching and ranges', async () => {
    const res = await get(JPEG);
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload).toEqual(jpeg);
    expect(res.headers).toMatchObject({
      'content-type': 'image/jpeg',
      'content-length': String(jpeg.length),
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      'accept-ranges': 'bytes',
    });
    expect(res.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]{12}"$/);
    expect(new Date(res.headers['last-modified'] as string).getTime()).not.toBeNaN();
    expect(res.headers['content-disposition']).toBeUndefined();
  });

  it('answers 304 to a matching If-None-Match, and to If-Modified-Since when no ETag is sent', async () => {
    const first = await get(JPEG);
    const etag = first.headers.etag as string;
    const lastModified = first.headers['last-modified'] as string;
    const current: Record<string, string>[] = [
      { 'if-none-match': etag },
      { 'if-none-match': `"other", ${etag}` },
      { 'if-none-match': `W/${etag}` },
      { 'if-modified-since': lastModified },
    ];
    for (const headers of current) {
      const res = await get(JPEG, headers);
      expect({ headers, status: res.statusCode }).toEqual({ headers, status: 304 });
      expect(res.rawPayload.length).toBe(0);
      expect(res.headers).toMatchObject({
        etag,
        'last-modified': lastModified,
        'cache-control': 'public, max-age=31536000, immutable',
      });
      expect(res.headers['content-type']).toBeUndefined();
    }
    const older = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    const stale: Record<string, string>[] = [
      { 'if-none-match': '"other"' },
      { 'if-modified-since': older },
      // If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3).
      { 'if-none-match': '"other"', 'if-modified-since': lastModified },
    ];
    for (const headers of stale) {
      const res = await get(JPEG, headers);
      expect({ headers, status: res.statusCode }).toEqual({ headers, status: 200 });
      expect(res.rawPayload).toEqual(jpeg);
    }
  });

  it('answers 412 problem+json when If-Match names another version, or the weak form of this one', async () => {
    const etag = (await get(JPEG)).headers.etag as string;
    // If-Match compares strongly (RFC 9110 13.1.1): a weak tag never matches.
    for (const ifMatch of ['"other"', `W/${etag}`, `W/"other", W/${etag}`]) {
      const res = await get(JPEG, { 'if-match': ifMatch });
      expect({ ifMatch, status: res.statusCode }).toEqual({ ifMatch, status: 412 });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json<{ code: string }>().code).toBe('precondition_failed');
    }
    for (const ifMatch of [etag, `W/"other", ${etag}`, '*']) {
      const res = await get(JPEG, { 'if-match': ifMatch });
      expect({ ifMatch, status: res.statusCode }).toEqual({ ifMatch, status: 200 });
    }
  });

  it('reads entity-tag lists with commas inside the quotes (RFC 9110 8.8.3) as whole tags', async () => {
    const etag = (await get(JPEG)).headers.etag as string;
    const inner = etag.slice(1, -1);
    // A tag may hold commas: the list's other tags, cut there or not, never name this one.
    const cases: [Record<string, string>, number][] = [
      [{ 'if-none-match': `"a,b", ${etag}` }, 304],
      [{ 'if-none-match': `W/"x,y", W/${etag}` }, 304],
      [{ 'if-none-match': `"${inner},x"` }, 200],
      [{ 'if-none-match': `"x,${inner}", W/"x,y"` }, 200],
      [{ 'if-match': `W/"x,y", "a,b", ${etag}` }, 200],
      [{ 'if-match': `W/"x,y"` }, 412],
      [{ 'if-match': `"${inner},x", "x,${inner}"` }, 412],
    ];
    for (const [headers, status] of cases) {
      const res = await get(JPEG, headers);
      expect({ headers, status: res.statusCode }).toEqual({ headers, status });
    }
  });

  it('serves one byte range with 206, also when If-Range names the current ETag', async () => {
    const size = jpeg.length;
    const etag = (await get(JPEG)).headers.etag as string;
    const cases: [Record<string, string>, number, number][] = [
      [{ range: 'bytes=0-9' }, 0, 9],
      [{ range: 'bytes=10-' }, 10, size - 1],
      [{ range: 'bytes=-5' }, size - 5, size - 1],
      [{ range: `bytes=5-${size + 100}` }, 5, size - 1],
      // A suffix longer than the file is the whole file (RFC 9110 14.1.2).
      [{ range: `bytes=-${size + 10}` }, 0, size - 1],
      [{ range: 'bytes=0-9', 'if-range': etag }, 0, 9],
    ];
    for (const [headers, start, end] of cases) {
      const res = await get(JPEG, headers);
      expect({ headers, status: res.statusCode }).toEqual({ headers, status: 206 });
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${size}`);
      expect(res.headers['content-length']).toBe(String(end - start + 1));
      expect(res.headers['content-type']).toBe('image/jpeg');
      expect(res.rawPayload).toEqual(jpeg.subarray(start, end + 1));
    }
  });

  it('serves the whole file when If-Range names another version', async () => {
    const res = await get(JPEG, { range: 'bytes=0-9', 'if-range': '"other"' });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload).toEqual(jpeg);
  });

  it('answers 416 problem+json with the size to a range past the end', async () => {
    const res = await get(JPEG, { range: `bytes=${jpeg.length}-` });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${jpeg.length}`);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 416, code: 'range_not_satisfiable' });
  });

  it('serves the whole file for a Range that is not one (bytes=abc), as without it', async () => {
    for (const range of ['bytes=abc', 'bytes=-', 'bytes=10-2', 'bytes=0-9,x']) {
      const res = await get(JPEG, { range });
      expect({ range, status: res.statusCode }).toEqual({ range, status: 200 });
      expect(res.rawPayload).toEqual(jpeg);
    }
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const res = await get(JPEG, {}, 'HEAD');
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.length).toBe(0);
    expect(res.headers).toMatchObject({
      'content-type': 'image/jpeg',
      'content-length': String(jpeg.length),
      'cache-control': 'public, max-age=31536000, immutable',
    });
    expect(res.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]{12}"$/);
    // Header for header what GET answers, on 200, 206 and 304 (remembered validators or not).
    for (const url of [JPEG, SVG]) {
      const etag = (await get(url)).headers.etag as string;
      const conditions: Record<string, string>[] = [
        {},
        { range: 'bytes=0-3' },
        { 'if-none-match': etag },
        { 'if-none-match': `"other", ${etag}` },
      ];
      for (const sent of conditions) {
        const [got, head] = [await get(url, sent), await get(url, sent, 'HEAD')];
        const { body: _body, ...answered } = comparable(head);
        const { body: _sent, ...expected } = comparable(got);
        expect({ url, sent, ...answered }).toEqual({ url, sent, ...expected });
        expect(head.rawPayload.length).toBe(0);
      }
    }
  });

  const comparable = (res: Response) => {
    const { date: _date, 'x-request-id': _id, ...headers } = res.headers;
    return { status: res.statusCode, headers: Object.entries(headers), body: res.rawPayload };
  };

  it('answers a repeated If-None-Match as the first, header for header', async () => {
    // The exact ETag within a second of a read is answered from the validators /media remembers;
    // a list naming it goes through the full check (a stat): both must be the same answer.
    for (const url of [JPEG, SVG]) {
      const etag = (await get(url)).headers.etag as string;
      const remembered = await get(url, { 'if-none-match': etag });
      const checked = await get(url, { 'if-none-match': `"other", ${etag}` });
      expect(comparable(remembered)).toEqual(comparable(checked));
      expect(remembered.statusCode).toBe(304);
    }
  });

  it('serves an SVG as a sandboxed download, on 200 and on 304', async () => {
    const res = await get(SVG);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/svg+xml');
    expect(res.headers['content-disposition']).toBe('attachment');
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    );
    const again = await get(SVG, { 'if-none-match': res.headers.etag as string });
    expect(again.statusCode).toBe(304);
    expect(again.headers['content-disposition']).toBe('attachment');
    expect(again.headers['content-security-policy']).toContain('sandbox');
  });

  it('redirects (308) a percent-encoded spelling of a file to its plain URL', async () => {
    const key = `products/${P}/${I}/original.jpg`;
    for (const url of [
      `/media/%70roducts/${P}/${I}/original.jpg`,
      `/media/products%2F${P}/${I}/original%2Ejpg`,
    ]) {
      const res = await get(url);
      expect({ url, status: res.statusCode, location: res.headers.location }).toEqual({
        url,
        status: 308,
        location: `http://localhost:3000/media/${key}`,
      });
    }
  });

  it('404s a missing file, a folder, and symlinks that lead out of the storage folder', async () => {
    for (const url of [
      `/media/products/${P}/${I}/thumb.webp`,
      `/media/products/${P}/${I}/large.webp`,
      `/media/products/${P}/${I}/card.jpg`,
      `/media/uploads/${P}/secret.jpg`,
    ]) {
      const res = await get(url);
      expect({ url, status: res.statusCode }).toEqual({ url, status: 404 });
      expectNotFound(res);
      expect(res.body).not.toContain('not for /media');
      expectNotFound(await get(url, { range: 'bytes=0-3' }));
    }
  });
});
