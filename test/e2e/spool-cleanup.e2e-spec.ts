import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { filesBelow } from '../support/accounts';
import { call, login } from '../support/http';
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

  beforeAll(async () => {
    t = await startTestApp({ UPLOAD_SPOOL_SWEEP_SECONDS: '1' });
    bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    const product = await call(t.app, 'POST', '/api/v1/products', { bearer }, { name: 'Spool' });
    productId = product.json<{ id: string }>().id;
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
  });

  const spoolDir = () => join(t.db.env.DATA_DIR, 'tmp', 'uploads');
  const spooled = () => filesBelow(join(t.db.env.DATA_DIR, 'tmp'));

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

  it("answers an upload the spool's folder cannot take as the service's fault: 500, not the body's", async () => {
    // DATA_DIR/tmp/uploads replaced by a file, as a broken or read-only disk would refuse it.
    rmSync(spoolDir(), { recursive: true, force: true });
    writeFileSync(spoolDir(), 'not a folder');
    try {
      const { contentType, body } = multipartBody(Buffer.from('any bytes'), { title: 'Lost' });
      const res = await t.app.inject({
        method: 'POST',
        url: `/api/v1/products/${productId}/images`,
        headers: { 'content-type': contentType, authorization: `Bearer ${bearer}` },
        payload: body,
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ code: 'internal_error' });
    } finally {
      rmSync(spoolDir(), { force: true });
      mkdirSync(spoolDir(), { recursive: true });
    }
  });

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
      expect(await eventually(() => !spooled().includes(stale), 10_000)).toBe(true);
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
