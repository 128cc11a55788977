import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Response } from 'light-my-request';
import { DataSource } from 'typeorm';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { noisyPng, solidJpeg } from '../support/fixtures';
import { call, login } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { startImageServer } from '../support/image-server';

/**
 * A full disk (issue 20 §1), for real: the local storage folder and the upload spool
 * (`<DATA_DIR>/tmp/uploads`) are each a small tmpfs (6 and 2 MB), filled to the last byte. Local storage full is
 * 502 `storage_unavailable`; the spool full is 503 `upload_spool_full` with Retry-After, for every
 * way an image arrives (multipart gallery and stand-alone uploads, a data URI and a URL import)
 * and for a transform URL, which copies the stored original into the spool.
 * Either way no row, no file and no temporary file is left, and once space is freed the same
 * upload succeeds without a restart. Needs root (mount) on Linux.
 */
const canMount = process.platform === 'linux' && process.getuid?.() === 0;
const describeIfRoot = canMount ? describe : describe.skip;

/** A tmpfs of `megabytes` (less than what {@link fill} writes) mounted on `dir`. */
function mountTmpfs(dir: string, megabytes: number): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0755`, 'tmpfs', dir]);
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    // not mounted (a set-up that failed before mounting)
  }
}

/** Fills the file system of `dir` to the last byte: writes until ENOSPC. */
function fill(dir: string): string {
  const filler = join(dir, 'filler.bin');
  try {
    writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024, 1));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  return filler;
}

describeIfRoot('A full disk (ENOSPC)', () => {
  let root: string;
  let media: string;
  let spool: string;
  let images: Awaited<ReturnType<typeof startImageServer>>;
  let t: TestApp | undefined;
  let app: NestFastifyApplication;
  let admin: { bearer: string };
  let jpeg: Buffer;
  let png: Buffer;

  beforeAll(async () => {
    jpeg = await solidJpeg(320, 240);
    png = await noisyPng(200, 150);
    images = await startImageServer(png);
    root = mkdtempSync(join(tmpdir(), 'pis-disk-full-'));
    media = join(root, 'media');
    // Room for every image the tests below make (about 2 MB: noisy PNGs and their renditions).
    mountTmpfs(media, 6);
    t = await startTestApp({
      STORAGE_DRIVER: 'local',
      STORAGE_LOCAL_DIR: media,
      IMPORT_ALLOWED_PRIVATE_ORIGINS: new URL(images.url).origin,
    });
    app = t.app;
    spool = join(t.db.env.DATA_DIR, 'tmp', 'uploads');
    mountTmpfs(spool, 2);
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    // Closed first (no file open in the mounts), unmounted whatever happened, then removed.
    await t?.app.close().catch(() => undefined);
    if (spool) unmount(spool);
    if (media) unmount(media);
    await t?.db.drop();
    if (root) rmSync(root, { recursive: true, force: true });
    await images?.close();
  });

  async function newProduct(name: string): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/products', admin, { name });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  type Way = 'gallery upload' | 'stand-alone upload' | 'data URI import' | 'URL import';
  const WAYS: Way[] = ['gallery upload', 'stand-alone upload', 'data URI import', 'URL import'];

  function send(way: Way, productId: string): Promise<Response> {
    const form = (fields: Record<string, string>) =>
      multipart(fields, [{ filename: 'photo.jpg', contentType: 'image/jpeg', data: jpeg }]);
    switch (way) {
      case 'gallery upload': {
        const body = form({ title: 'photo' });
        const url = `/api/v1/products/${productId}/images`;
        return call(app, 'POST', url, admin, body.payload, { headers: body.headers });
      }
      case 'stand-alone upload': {
        const body = form({ purpose: 'product' });
        return call(app, 'POST', '/api/v1/images', admin, body.payload, { headers: body.headers });
      }
      case 'data URI import':
        return call(app, 'PUT', `/api/v1/products/${productId}/image`, admin, {
          image: `data:image/png;base64,${png.toString('base64')}`,
        });
      case 'URL import':
        return call(app, 'PUT', `/api/v1/products/${productId}/image`, admin, {
          image: images.url,
        });
    }
  }

  const succeeded = (way: Way) => (way.endsWith('import') ? 200 : 201);
  const imageRows = async () =>
    Number((await app.get(DataSource).query(`SELECT count(*) AS n FROM images`))[0].n);
  const stored = () => filesBelow(media);

  /** No row, no stored file, no temporary file in the storage's write area or the spool. */
  async function expectNothingLeft(rows: number, files: string[], filler: string): Promise<void> {
    expect(await imageRows()).toBe(rows);
    await eventually(
      async () => (await pendingFileDeletions(app.get(DataSource))).length === 0,
      'the queued deletions to be done',
    );
    expect(stored().filter((f) => f !== filler)).toEqual(files.filter((f) => f !== filler));
    expect(filesBelow(join(media, '.tmp'))).toEqual([]);
    await eventually(
      () => filesBelow(spool).every((f) => f === filler),
      'the upload spool to hold only the filler',
    );
  }

  it.each(WAYS)(
    'local storage full, %s: 502 storage_unavailable, nothing left, works once space is freed',
    async (way) => {
      const productId = await newProduct(`storage full ${way}`);
      const rows = await imageRows();
      const filler = fill(media);
      const files = stored();
      try {
        const res = await send(way, productId);
        expect(res.statusCode).toBe(502);
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.json()).toMatchObject({ code: 'storage_unavailable', status: 502 });
        await expectNothingLeft(rows, files, filler);
        expect((await call(app, 'GET', '/health/ready')).statusCode).toBe(200);
      } finally {
        rmSync(filler, { force: true });
      }
      expect((await send(way, productId)).statusCode).toBe(succeeded(way));
      expect(await imageRows()).toBe(rows + 1);
    },
  );

  it.each(WAYS)(
    'upload spool full, %s: 503 upload_spool_full with Retry-After, nothing left, works once freed',
    async (way) => {
      const productId = await newProduct(`spool full ${way}`);
      const rows = await imageRows();
      const files = stored();
      const filler = fill(spool);
      try {
        const res = await send(way, productId);
        expect(res.statusCode).toBe(503);
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.json()).toMatchObject({ code: 'upload_spool_full', status: 503 });
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        await expectNothingLeft(rows, files, filler);
        expect((await call(app, 'GET', '/health/ready')).statusCode).toBe(200);
      } finally {
        rmSync(filler, { force: true });
      }
      expect((await send(way, productId)).statusCode).toBe(succeeded(way));
      expect(await imageRows()).toBe(rows + 1);
      await eventually(() => filesBelow(spool).length === 0, 'the upload spool to be empty');
    },
  );

  it('upload spool full, transform URL: 503 upload_spool_full with Retry-After, nothing made or left, made once freed', async () => {
    // A transform copies the stored original into the spool to decode it (stored-original.ts).
    const productId = await newProduct('spool full transform');
    const uploaded = await send('gallery upload', productId);
    expect(uploaded.statusCode).toBe(201);
    const url = `/transform/unsigned/p_thumb,f_jpeg/${uploaded.json<{ id: string }>().id}`;
    const rows = await imageRows();
    const files = stored();
    const filler = fill(spool);
    try {
      const res = await call(app, 'GET', url);
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ code: 'upload_spool_full', status: 503 });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      // No result stored (`files` is the storage before), no copy of the original in the spool.
      await expectNothingLeft(rows, files, filler);
      expect((await call(app, 'GET', '/health/ready')).statusCode).toBe(200);
    } finally {
      rmSync(filler, { force: true });
    }
    const made = await call(app, 'GET', url);
    expect(made.statusCode).toBe(200);
    expect(made.headers['content-type']).toBe('image/jpeg');
    expect(stored().length).toBe(files.length + 1);
    await eventually(() => filesBelow(spool).length === 0, 'the upload spool to be empty');
  });
});
