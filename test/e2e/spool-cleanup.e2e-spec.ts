import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { filesBelow } from '../support/accounts';
import { DataSource } from 'typeorm';
import { solidJpeg } from '../support/fixtures';
import { call, login, uploadToNewProduct } from '../support/http';
import { startImageServer } from '../support/image-server';
import { multipart } from '../support/multipart';
import { eventually, multipartBody, RawClient, requestHead } from '../support/slow-client';
import { createApp } from '../../src/app.factory';
import { createTestDatabase } from '../support/test-database';
import { startTestApp, TEST_ADMIN, testAppEnv, type TestApp } from '../support/test-app';

/**
 * A request's temporary files (DATA_DIR/tmp/uploads) go with the request, however it ends: here
 * the client hangs up mid-body, just after its last byte, and while the image is processed, for
 * a multipart upload and for a data-URI import; and the periodic sweep removes what a crash
 * would leave.
 */

describe('Spool files never outlive their request', () => {
  let t: TestApp;
  let port: number;
  let bearer: string;
  let productId: string;
  /**
   * Small in bytes, slow to process: 24 megapixels of almost one colour, in CMYK, so that the
   * original must be converted to sRGB and re-encoded (a JPEG that needs no pixel change is stored
   * as uploaded, and its renditions come from a reduced decode: done too fast to hang up during).
   */
  let big: Buffer;
  /** A small image, quick to process, and one stored from it, for a transform URL to read. */
  let small: Buffer;
  let storedId: string;
  let images: Awaited<ReturnType<typeof startImageServer>>;

  beforeAll(async () => {
    small = await solidJpeg(64, 48);
    images = await startImageServer(small);
    t = await startTestApp({
      UPLOAD_SPOOL_SWEEP_SECONDS: '1',
      IMPORT_ALLOWED_PRIVATE_ORIGINS: new URL(images.url).origin,
    });
    bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    const product = await call(t.app, 'POST', '/api/v1/products', { bearer }, { name: 'Spool' });
    productId = product.json<{ id: string }>().id;
    storedId = (await uploadToNewProduct(t.app, { bearer }, small, 'Stored')).id;
    big = await sharp({
      create: { width: 6000, height: 4000, channels: 3, background: '#7a5c3e' },
    })
      .toColourspace('cmyk')
      .jpeg({ quality: 90 })
      .toBuffer();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });

  afterAll(async () => {
    await t?.close();
    await images?.close();
  });

  const spoolDir = () => join(t.db.env.DATA_DIR, 'tmp', 'uploads');
  const spooled = () => filesBelow(join(t.db.env.DATA_DIR, 'tmp'));
  const stored = () => filesBelow(join(t.db.env.DATA_DIR, 'media'));
  const imageRows = async () =>
    Number((await t.app.get(DataSource).query('SELECT count(*) AS n FROM images'))[0].n);

  /** The whole request, as bytes: the head, then the body. */
  function upload(): { head: string; body: Buffer } {
    const { contentType, body } = multipartBody(big, { title: 'Big' });
    const head = requestHead(
      'POST',
      `/api/v1/products/${productId}/images`,
      { 'content-type': contentType, authorization: `Bearer ${bearer}` },
      body.length,
    );
    return { head, body };
  }

  function dataUriImport(): { head: string; body: Buffer } {
    const body = Buffer.from(
      JSON.stringify({ image: `data:image/jpeg;base64,${big.toString('base64')}` }),
    );
    const head = requestHead(
      'PUT',
      `/api/v1/products/${productId}/image`,
      { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body.length,
    );
    return { head, body };
  }

  const requests = [
    ['a multipart upload', upload],
    ['a data-URI import', dataUriImport],
  ] as const;

  it.each(requests)('%s: the client hangs up mid-body', async (_, make) => {
    const { head, body } = make();
    const client = await RawClient.connect(port);
    await client.write(head);
    await client.write(body.subarray(0, Math.floor(body.length / 2)));
    // The service is writing the image to its spool when the client goes away.
    expect(await eventually(() => spooled().length > 0)).toBe(true);
    client.destroy();
    expect(await eventually(() => spooled().length === 0)).toBe(true);
  });

  it.each(requests)('%s: the client hangs up just after its last byte', async (_, make) => {
    const { head, body } = make();
    const client = await RawClient.connect(port);
    await client.write(head);
    await client.write(body.subarray(0, body.length - 1));
    expect(await eventually(() => spooled().length > 0)).toBe(true);
    // The last byte, and the client is gone before any answer could come.
    await new Promise<void>((resolve) => client.socket.write(body.subarray(-1), () => resolve()));
    client.destroy();
    expect(client.answer()).toBeUndefined();
    expect(await eventually(() => spooled().length === 0, 30_000)).toBe(true);
  });

  it.each(requests)(
    '%s: the client hangs up while the image is processed',
    async (_, make) => {
      const { head, body } = make();
      const client = await RawClient.connect(port);
      await client.write(head);
      await client.write(body);
      // The body is in: the spool file is complete and the image is being processed (24 MP of CMYK
      // take seconds to convert and encode); no answer has come yet.
      expect(await eventually(() => spooled().length > 0)).toBe(true);
      await sleep(300);
      expect(client.answer()).toBeUndefined();
      expect(spooled().length).toBeGreaterThan(0);
      client.destroy();
      // The spool file goes when the processing it feeds ends: seconds when quiet, more than 30
      // under a load average of 19 on two cores.
      expect(await eventually(() => spooled().length === 0, 100_000)).toBe(true);
    },
    120_000,
  );

  it('an upload to a malformed product id: 400 invalid_id, and its body is spooled to no file', async () => {
    // The id's parser fails at once, while the body's pipe is still reading the file part (Nest
    // resolves both together): the pipe goes on after the answer, and must make no file.
    const { contentType, body } = multipartBody(big, { title: 'Nowhere' });
    const head = requestHead(
      'POST',
      '/api/v1/products/zzzz/images',
      { 'content-type': contentType, authorization: `Bearer ${bearer}` },
      body.length,
    );
    const client = await RawClient.connect(port);
    await client.write(head);
    await client.write(body.subarray(0, Math.floor(body.length / 2)));
    expect(await eventually(() => client.answer() !== undefined)).toBe(true);
    expect(client.answer()?.status).toBe(400);
    expect(JSON.parse(client.answer()!.body)).toMatchObject({ code: 'invalid_id' });
    await client.write(body.subarray(Math.floor(body.length / 2)));
    // Before this was fixed, the file was made as the part arrived and stayed for good: a second
    // of watching sees it.
    await sleep(1000);
    expect(spooled()).toEqual([]);
    client.destroy();
  });

  /** Every way an image reaches the spool, each sent once (its product made beforehand). */
  const WAYS = {
    'gallery upload': (productId: string) => {
      const form = multipart({ title: 'Lost' }, [
        { filename: 'a.jpg', contentType: 'image/jpeg', data: small },
      ]);
      const url = `/api/v1/products/${productId}/images`;
      return call(t.app, 'POST', url, { bearer }, form.payload, { headers: form.headers });
    },
    'stand-alone upload': () => {
      const form = multipart({ purpose: 'product' }, [
        { filename: 'a.jpg', contentType: 'image/jpeg', data: small },
      ]);
      return call(t.app, 'POST', '/api/v1/images', { bearer }, form.payload, {
        headers: form.headers,
      });
    },
    'data URI import': (productId: string) =>
      call(
        t.app,
        'PUT',
        `/api/v1/products/${productId}/image`,
        { bearer },
        {
          image: `data:image/jpeg;base64,${small.toString('base64')}`,
        },
      ),
    'URL import': (productId: string) =>
      call(t.app, 'PUT', `/api/v1/products/${productId}/image`, { bearer }, { image: images.url }),
    // A transform copies the stored original into the spool to decode it (stored-original.ts).
    'transform URL': () => call(t.app, 'GET', `/transform/unsigned/p_thumb,f_png/${storedId}`),
  };

  it.each(Object.keys(WAYS) as (keyof typeof WAYS)[])(
    "the spool's folder unusable while running, %s: 503 upload_spool_unavailable with Retry-After, nothing kept",
    async (way) => {
      const product = await call(t.app, 'POST', '/api/v1/products', { bearer }, { name: way });
      const productId = product.json<{ id: string }>().id;
      const rows = await imageRows();
      const media = stored();
      // DATA_DIR/tmp/uploads replaced by a file after start-up, as a broken disk refuses it.
      rmSync(spoolDir(), { recursive: true, force: true });
      writeFileSync(spoolDir(), 'not a folder');
      try {
        const res = await WAYS[way](productId);
        expect(res.statusCode).toBe(503);
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.json()).toMatchObject({ code: 'upload_spool_unavailable', status: 503 });
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        expect(await imageRows()).toBe(rows);
        expect(stored()).toEqual(media);
        // Not ready meanwhile: a load balancer sends the uploads to an instance that takes them.
        const ready = await call(t.app, 'GET', '/health/ready');
        expect(ready.statusCode).toBe(503);
        expect(ready.json()).toMatchObject({ code: 'not_ready' });
      } finally {
        rmSync(spoolDir(), { force: true });
        mkdirSync(spoolDir(), { recursive: true });
      }
      // Repaired, the same request goes through, without a restart.
      expect((await WAYS[way](productId)).statusCode).toBeLessThan(300);
      expect((await call(t.app, 'GET', '/health/ready')).statusCode).toBe(200);
      expect(spooled()).toEqual([]);
    },
  );

  it('sweeps files a crash left, every UPLOAD_SPOOL_SWEEP_SECONDS, and only old ones', async () => {
    mkdirSync(spoolDir(), { recursive: true });
    const stale = join(spoolDir(), 'left-by-a-crash.upload');
    const recent = join(spoolDir(), 'another-instance-writes-this.upload');
    writeFileSync(stale, 'x');
    writeFileSync(recent, 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    try {
      // The app has been running for a while: only its timer can find these.
      expect(await eventually(() => !spooled().includes(stale), 30_000)).toBe(true);
      expect(spooled()).toContain(recent);
    } finally {
      rmSync(stale, { force: true });
      rmSync(recent, { force: true });
    }
  });
});

describe('A spool folder the service cannot write', () => {
  it('stops the start, naming DATA_DIR and the folder, rather than failing every upload later', async () => {
    const db = await createTestDatabase();
    try {
      const tmp = join(db.env.DATA_DIR, 'tmp');
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(db.env.DATA_DIR, { recursive: true });
      writeFileSync(tmp, 'not a folder');
      await expect(createApp({ env: testAppEnv(db) })).rejects.toThrow(
        /^DATA_DIR: uploads cannot be written to .*tmp\/uploads \(ENOTDIR\)/,
      );
    } finally {
      await db.drop();
    }
  });
});
