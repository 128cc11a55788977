import { createHash, randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { decodeId } from '../../src/common/ids/short-id';
import { UnattachedImageSweeper } from '../../src/images/assets/unattached-image-sweeper';
import type { StoredRendition } from '../../src/images/entities/image.entity';
import { ORPHAN_FILE_SWEEP_QUEUE } from '../../src/images/orphan-file-sweeper';
import { JobQueue } from '../../src/jobs/job-queue.service';
import {
  deliveryHeaders,
  STORAGE_PROVIDER,
  type StorageProvider,
} from '../../src/storage/storage-provider';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { noisyPng, solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import {
  CLOUDINARY_ACCOUNT,
  DRIVERS,
  fetchDelivered,
  PUBLIC_BASE,
  startStorageBackend,
  type Driver,
  type StorageBackend,
} from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * The whole upload → gallery → delete flow through HTTP on each storage driver, each against a
 * real backend on loopback: a directory, s3rver (behind a proxy that can fail requests), and the
 * local fake of Cloudinary's API (no internet here; it verifies every signature).
 */
interface ImageBody {
  id: string;
  is_primary: boolean;
  url: string;
  sha256: string;
  width: number;
  height: number;
  format: string;
  size: number;
  renditions: Record<
    string,
    { url: string; width: number; height: number; format: string; size: number | null }
  >;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(DRIVERS)('Upload, gallery and delete on %s storage', (driver: Driver) => {
  let backend: StorageBackend;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let jpeg: Buffer;

  beforeAll(async () => {
    backend = await startStorageBackend(driver);
    t = await startTestApp({ ...backend.env, PUBLIC_BASE_URL: PUBLIC_BASE });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    jpeg = await solidJpeg(640, 480);
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  const fetchUrl = (url: string) => fetchDelivered(app, url);

  async function newProduct(): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/products', admin, { name: `On ${driver}` });
    expect(res.statusCode).toBe(201);
    return res.json().id;
  }

  function upload(productId: string, file: Buffer, contentType = 'image/jpeg') {
    const body = multipart({ alt_text: 'A product' }, [{ data: file, contentType }]);
    return call(app, 'POST', `/api/v1/products/${productId}/images`, admin, body.payload, {
      headers: body.headers,
    });
  }

  const imageRows = async (productId: string): Promise<number> => {
    const [{ n }] = await app
      .get(DataSource)
      .query('SELECT count(*)::int AS n FROM images WHERE product_id = $1', [decodeId(productId)]);
    return n;
  };

  /** What the backend holds for one image (its id appears in every key or public id). */
  const objectsOf = (imageId: string) =>
    backend.stored().filter((k) => k.includes(decodeId(imageId)!));

  it('stores an upload, serves its original and renditions, and deletes every object with it', async () => {
    const productId = await newProduct();

    const res = await upload(productId, jpeg);

    expect(res.statusCode).toBe(201);
    const image = res.json<ImageBody>();
    expect(image).toMatchObject({ is_primary: true, width: 640, height: 480, format: 'jpeg' });
    const original = await fetchUrl(image.url);
    expect(original.status).toBe(200);
    expect(sha(original.body)).toBe(image.sha256);
    expect(original.body.length).toBe(image.size);

    if (driver === 'cloudinary') {
      // One upload, the original; renditions are transformations of it on delivery.
      expect(objectsOf(image.id)).toEqual([
        `products/${decodeId(productId)}/${decodeId(image.id)}/original`,
      ]);
      const uploads = backend.cloudinary!.uploads.filter((u) =>
        u.fields.public_id.includes(decodeId(image.id)!),
      );
      expect(uploads).toHaveLength(1);
      expect(uploads[0].fields).toMatchObject({
        folder: 'products/',
        public_id: `${decodeId(productId)}/${decodeId(image.id)}/original`,
        overwrite: '1',
      });
      expect(uploads[0].fields.transformation).toBeUndefined();
      expect(image.renditions).toEqual({
        thumb: expect.objectContaining({ width: 150, height: 150, format: 'auto', size: null }),
        card: expect.objectContaining({ width: 500, height: 500, format: 'auto', size: null }),
        large: expect.objectContaining({ width: 640, height: 480, format: 'auto', size: null }),
      });
      expect(image.renditions.card.url).toContain(
        `/${CLOUDINARY_ACCOUNT.cloudName}/image/upload/c_fill,g_auto,h_500,w_500/f_auto/q_auto/`,
      );
      expect((await fetchUrl(image.renditions.card.url)).status).toBe(200);
      expect(backend.cloudinary!.deliveries.at(-1)!.transformation).toBe(
        'c_fill,g_auto,h_500,w_500/f_auto/q_auto',
      );
    } else {
      expect(objectsOf(image.id)).toHaveLength(4);
      for (const [name, rendition] of Object.entries(image.renditions)) {
        const file = await fetchUrl(rendition.url);
        expect({ name, status: file.status, size: file.body.length }).toEqual({
          name,
          status: 200,
          size: rendition.size,
        });
        const meta = await sharp(file.body).metadata();
        expect({ name, width: meta.width, height: meta.height, format: meta.format }).toEqual({
          name,
          width: rendition.width,
          height: rendition.height,
          format: 'webp',
        });
      }
    }

    // The product embeds its primary image with the same URLs.
    const product = await call(app, 'GET', `/api/v1/products/${productId}`, admin);
    expect(product.json().primary_image).toMatchObject({
      id: image.id,
      url: image.url,
      renditions: { card: image.renditions.card.url },
    });

    const deleted = await call(
      app,
      'DELETE',
      `/api/v1/products/${productId}/images/${image.id}`,
      admin,
    );
    expect(deleted.statusCode).toBe(204);
    // Right after the commit, by a file-deletion job.
    await eventually(() => objectsOf(image.id).length === 0, "the image's objects to go");
    expect((await fetchUrl(image.url)).status).toBe(404);
    if (driver === 'cloudinary') {
      expect(backend.cloudinary!.destroys.at(-1)).toMatchObject({
        public_id: `products/${decodeId(productId)}/${decodeId(image.id)}/original`,
        invalidate: 'true',
      });
    }
  });

  it('replays an Idempotency-Key with storage URLs that work now, however old the first answer', async () => {
    const productId = await newProduct();
    const body = multipart({ alt_text: 'A product' }, [{ data: jpeg, contentType: 'image/jpeg' }]);
    const send = () =>
      call(app, 'POST', `/api/v1/products/${productId}/images`, admin, body.payload, {
        headers: { ...body.headers, 'Idempotency-Key': `replayed-urls-${driver}` },
      });
    // The first answer was made two hours ago: past S3_PRESIGN_TTL_SECONDS (an hour), well within
    // the key's 24 hours. Its URLs are signed as they were then (the clock moved for the signing
    // alone: the storage's own requests keep the real time, which s3rver and the Cloudinary fake
    // check); s3rver judges the links by its own clock.
    const storage = app.get<StorageProvider>(STORAGE_PROVIDER);
    const [realNow, signUrl] = [Date.now.bind(Date), storage.url.bind(storage)];
    const signedEarlier = jest.spyOn(storage, 'url').mockImplementation((key) => {
      const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 2 * 3600_000);
      try {
        return signUrl(key);
      } finally {
        clock.mockRestore();
      }
    });
    const first = await send().finally(() => signedEarlier.mockRestore());
    expect(first.statusCode).toBe(201);

    const replay = await send();

    expect(replay.statusCode).toBe(201);
    const [then, now] = [first.json<ImageBody>(), replay.json<ImageBody>()];
    const urlsOf = (image: ImageBody) => [
      image.url,
      ...Object.values(image.renditions).map((rendition) => rendition.url),
    ];
    for (const url of urlsOf(now))
      expect({ url, status: (await fetchUrl(url)).status }).toEqual({ url, status: 200 });
    const withoutUrls = ({ url: _url, renditions, ...rest }: ImageBody) => ({
      ...rest,
      renditions: Object.fromEntries(
        Object.entries(renditions).map(([name, { url: _u, ...rendition }]) => [name, rendition]),
      ),
    });
    expect(withoutUrls(now)).toEqual(withoutUrls(then));
    if (driver === 's3') {
      // The first answer's links have expired; the replay's name the same objects, signed anew.
      expect((await fetchUrl(then.url)).status).toBe(403);
      expect(urlsOf(now).map((url) => new URL(url).pathname)).toEqual(
        urlsOf(then).map((url) => new URL(url).pathname),
      );
      expect(now.url).not.toBe(then.url);
    } else {
      // Links that never expire: the answer is replayed byte for byte.
      expect(replay.body).toBe(first.body);
    }
  });

  it('stores a stand-alone upload under uploads/, attaches it, and sweeps an expired one', async () => {
    const standalone = async (fields: Record<string, string> = {}) => {
      const body = multipart({ purpose: 'product', ...fields }, [
        { data: jpeg, contentType: 'image/jpeg' },
      ]);
      const res = await call(app, 'POST', '/api/v1/images', admin, body.payload, {
        headers: body.headers,
      });
      expect(res.statusCode).toBe(201);
      return res.json<{
        id: string;
        key: string;
        url: string;
        renditions: Record<string, string>;
      }>();
    };
    const kept = await standalone();
    expect(kept.key).toBe(`uploads/${decodeId(kept.id)}/original.jpg`);
    expect(objectsOf(kept.id).length).toBeGreaterThan(0);
    const original = await fetchUrl(kept.url);
    expect(original.status).toBe(200);
    for (const url of Object.values(kept.renditions))
      expect((await fetchUrl(url)).status).toBe(200);

    const productId = await newProduct();
    const attached = await call(app, 'POST', `/api/v1/products/${productId}/images`, admin, {
      image_id: kept.id,
    });
    expect(attached.statusCode).toBe(201);
    expect(attached.json()).toMatchObject({ id: kept.id, is_primary: true, url: kept.url });
    expect(sha((await fetchUrl(attached.json().url)).body)).toBe(sha(original.body));

    // A durable asset stays; one uploaded with an expiry is swept, files and all, once it passes.
    const durable = await standalone();
    const swept = await standalone({ expires_in: '3600' });
    const stored = objectsOf(swept.id);
    expect(stored.length).toBeGreaterThan(0);
    await app
      .get(DataSource)
      .query(`UPDATE images SET expires_at = now() - interval '1 second' WHERE id = $1`, [
        decodeId(swept.id),
      ]);
    expect(await app.get(UnattachedImageSweeper).sweep()).toBe(1);
    await eventually(() => objectsOf(swept.id).length === 0, "the swept upload's objects to go");
    expect(objectsOf(kept.id).length).toBeGreaterThan(0);
    expect(objectsOf(durable.id).length).toBeGreaterThan(0);
  });

  it('keeps the gallery rules, and deleting the product deletes its objects', async () => {
    const productId = await newProduct();
    const first = (await upload(productId, jpeg)).json<ImageBody>();
    const second = (await upload(productId, await noisyPng(64, 48), 'image/png')).json<ImageBody>();
    expect(second.is_primary).toBe(false);

    const promoted = await call(
      app,
      'PATCH',
      `/api/v1/products/${productId}/images/${second.id}`,
      admin,
      { is_primary: true },
    );
    expect(promoted.statusCode).toBe(200);
    const gallery = await call(app, 'GET', `/api/v1/products/${productId}/images`, admin);
    expect(gallery.json().items.map((i: ImageBody) => [i.id, i.is_primary])).toEqual([
      [second.id, true],
      [first.id, false],
    ]);
    expect(objectsOf(first.id).length).toBeGreaterThan(0);
    expect(objectsOf(second.id).length).toBeGreaterThan(0);

    const deleted = await call(app, 'DELETE', `/api/v1/products/${productId}`, admin);

    expect(deleted.statusCode).toBe(204);
    await eventually(
      () => objectsOf(first.id).length + objectsOf(second.id).length === 0,
      "the product's objects to go",
    );
  });

  it('sweeps objects no image names once past the grace period, keeping young and named ones', async () => {
    const storage = app.get<StorageProvider>(STORAGE_PROVIDER);
    const jobs = app.get(JobQueue);
    const productId = await newProduct();
    const named = (await upload(productId, jpeg)).json<ImageBody>();
    const [row] = await app
      .get(DataSource)
      .query<{ storage_key: string; renditions: Record<string, StoredRendition> }[]>(
        'SELECT storage_key, renditions FROM images WHERE id = $1',
        [decodeId(named.id)],
      );
    const namedKeys = [
      ...new Set([row.storage_key, ...Object.values(row.renditions).map((r) => r.key)]),
    ];
    // Left behind: by an upload whose process died before its row, a failed import, a deletion.
    const orphans = [
      `products/${decodeId(productId)}/${randomUUID()}/original.jpg`,
      `uploads/${randomUUID()}/card.webp`,
    ];
    // Written a moment ago: an upload whose row is not committed yet.
    const young = `uploads/${randomUUID()}/original.jpg`;
    // Named like the Ocha API's slug keys, which no image names: on Cloudinary, an asset someone
    // else put in the folder (`spring-banner`), which the sweep must not take for the service's.
    const foreign = 'products/spring-banner.jpg';
    for (const key of [...orphans, young, foreign]) {
      await storage.put(key, jpeg, { contentType: 'image/jpeg', ...deliveryHeaders('image/jpeg') });
    }
    const longAgo = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    for (const key of [...namedKeys, ...orphans, foreign]) backend.backdate(key, longAgo);

    // What ORPHAN_SWEEP_CRON makes at each tick (on one instance): a job of the sweep.
    const id = await jobs.send(ORPHAN_FILE_SWEEP_QUEUE, {});
    jobs.wake(ORPHAN_FILE_SWEEP_QUEUE);
    await eventually(
      async () => (await jobs.getJob(ORPHAN_FILE_SWEEP_QUEUE, id!))?.state === 'completed',
      'the orphan sweep to complete',
    );
    expect((await jobs.getJob(ORPHAN_FILE_SWEEP_QUEUE, id!))?.output).toMatchObject({
      deleted: orphans.length,
      failed: 0,
    });
    for (const key of orphans)
      expect({ key, kept: await storage.exists(key) }).toEqual({ key, kept: false });
    expect(await storage.exists(young)).toBe(true);
    expect(await storage.exists(foreign)).toBe(true);
    for (const key of namedKeys)
      expect({ key, kept: await storage.exists(key) }).toEqual({ key, kept: true });
    expect((await fetchUrl(named.url)).status).toBe(200);
    expect((await fetchUrl(named.renditions.card.url)).status).toBe(200);
  });

  if (driver !== 'local') {
    it('answers 502 storage_unavailable when the storage fails mid-upload, leaving nothing', async () => {
      const productId = await newProduct();
      const before = backend.stored();
      if (driver === 's3') {
        // The original is accepted, then every further write fails: the original must go.
        backend.faults!.failAfter(['PUT'], 1);
      } else {
        backend.cloudinary!.failNext(1, 500);
      }
      try {
        const res = await upload(productId, jpeg);

        expect(res.statusCode).toBe(502);
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.json()).toMatchObject({ code: 'storage_unavailable', status: 502 });
      } finally {
        backend.faults?.heal();
      }
      expect(await imageRows(productId)).toBe(0);
      // What was written before the failure is deleted by a file-deletion job, right after it.
      await eventually(
        () => JSON.stringify(backend.stored()) === JSON.stringify(before),
        'the objects written before the failure to go',
      );
      if (driver === 's3') {
        expect(
          backend.faults!.requests.filter((r) => r.method === 'PUT' && !r.failed).length,
        ).toBeGreaterThan(0);
      }
    });

    it('reports the storage down on /health/ready, and up again when it recovers', async () => {
      // A queued file deletion would take the failure meant for the probe.
      const deletionsDone = (what: string) =>
        eventually(
          async () => (await pendingFileDeletions(app.get(DataSource))).length === 0,
          what,
        );
      await deletionsDone('earlier file deletions to finish');
      if (driver === 's3') {
        backend.faults!.failAfter(['HEAD'], 0);
      } else {
        // A good ping is trusted for a minute (the Admin API is rate-limited); a failed call
        // ends that trust, so the probe asks again.
        backend.cloudinary!.failNext(1, 500);
        expect((await upload(await newProduct(), jpeg)).statusCode).toBe(502);
        // The failed upload queues the deletion of what it may have written.
        await deletionsDone('the file deletions of the failed upload');
        backend.cloudinary!.failNext(1, 500);
      }
      try {
        const down = await app.inject({ method: 'GET', url: '/health/ready' });
        expect(down.statusCode).toBe(503);
        expect(down.json()).toMatchObject({
          code: 'not_ready',
          checks: { database: { status: 'up' }, storage: { status: 'down', driver } },
        });
        // The public probe does not describe the setup; the reason is in the log.
        expect(JSON.stringify(down.json().checks)).not.toMatch(/bucket|product-images|HTTP|500/i);
      } finally {
        backend.faults?.heal();
      }
      const up = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(up.statusCode).toBe(200);
    });

    it('refuses to start with bad credentials or a missing bucket, saying which', async () => {
      const bad =
        driver === 's3'
          ? { ...backend.env, S3_ACCESS_KEY_ID: 'NOT-OUR-KEY' }
          : {
              ...backend.env,
              CLOUDINARY_URL: backend.cloudinary!.cloudinaryUrl({ apiSecret: 'wrong' }),
            };
      await expect(startTestApp(bad)).rejects.toThrow(
        new RegExp(`STORAGE_DRIVER=${driver}\\) is not usable: .*refused our credentials`),
      );
      if (driver === 's3') {
        await expect(startTestApp({ ...backend.env, S3_BUCKET: 'no-such-bucket' })).rejects.toThrow(
          /S3 bucket "no-such-bucket" does not exist/,
        );
      }
    });
  }
});
