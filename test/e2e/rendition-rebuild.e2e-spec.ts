import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { decodeId } from '../../src/common/ids/short-id';
import { RenditionMaker } from '../../src/images/renditions/rendition-maker.service';
import { eventuallyRead } from '../support/eventually';
import { noisyPng, solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { recordOpenApiResponses } from '../support/openapi-recorder';
import {
  DRIVERS,
  fetchDelivered,
  PUBLIC_BASE,
  startStorageBackend,
  type Driver,
  type StorageBackend,
} from '../support/storage-backends';
import { TEST_ADMIN, testAppEnv } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/**
 * Changing IMAGE_RENDITIONS and restarting re-makes every image's renditions (issue 18): on each
 * storage driver, images uploaded with one set of presets, then the application started again on
 * the same database and storage with another; the run started at start-up is followed through the
 * progress route until it completes. Afterwards no file of the old renditions remains and every
 * listed rendition is of the new size.
 */
const BEFORE = 'thumb:150x150:cover,card:300x300:attention';
const AFTER = 'thumb:100x100:cover,card:300x300:attention,wide:320x160:inside';
const AFTER_SIGNATURE = 'card:300x300:attention,thumb:100x100:cover,wide:320x160:inside';
const BOXES: Record<string, [number, number]> = {
  thumb: [100, 100],
  card: [300, 300],
  wide: [320, 160],
};

interface Rendition {
  url: string;
  width: number;
  height: number;
}
interface ImageBody {
  id: string;
  url: string;
  width: number;
  height: number;
  renditions: Record<string, Rendition>;
}
interface Run {
  id: string;
  state: string;
  presets: string;
  trigger: string;
  total: number;
  done: number;
  failed: number;
  finished_at: string | null;
}

/** The size the AFTER preset `name` makes of an image's original. */
function expectedSize(
  image: { width: number; height: number },
  name: string,
): { width: number; height: number } {
  const [width, height] = BOXES[name];
  if (name !== 'wide') return { width, height };
  const scale = Math.min(1, width / image.width, height / image.height);
  return { width: Math.round(image.width * scale), height: Math.round(image.height * scale) };
}

describe.each(DRIVERS)('Re-making renditions on %s storage', (driver: Driver) => {
  let backend: StorageBackend;
  let db: TestDatabase;
  let app: NestFastifyApplication | undefined;
  let admin: Credential;

  /** The application on the test's database and storage, with these presets. */
  async function start(presets: string): Promise<void> {
    app = await createApp({
      env: testAppEnv(db, {
        ...backend.env,
        PUBLIC_BASE_URL: PUBLIC_BASE,
        IMAGE_RENDITIONS: presets,
        JOB_POLL_INTERVAL_MS: '500',
      }),
    });
    recordOpenApiResponses(app);
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  }

  async function stop(): Promise<void> {
    await app?.close();
    app = undefined;
  }

  beforeAll(async () => {
    backend = await startStorageBackend(driver);
    db = await createTestDatabase();
    await start(BEFORE);
  });

  afterAll(async () => {
    await stop();
    await db?.drop();
    await backend?.close();
  });

  const api = () => app!;

  async function newProduct(name: string): Promise<string> {
    const res = await call(api(), 'POST', '/api/v1/products', admin, { name });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  async function upload(productId: string, file: Buffer, contentType: string): Promise<ImageBody> {
    const body = multipart({}, [{ data: file, contentType }]);
    const res = await call(
      api(),
      'POST',
      `/api/v1/products/${productId}/images`,
      admin,
      body.payload,
      {
        headers: body.headers,
      },
    );
    expect(res.statusCode).toBe(201);
    return res.json<ImageBody>();
  }

  async function uploadStandalone(file: Buffer): Promise<ImageBody> {
    const body = multipart({ purpose: 'category' }, [{ data: file, contentType: 'image/jpeg' }]);
    const res = await call(api(), 'POST', '/api/v1/images', admin, body.payload, {
      headers: body.headers,
    });
    expect(res.statusCode).toBe(201);
    return res.json<ImageBody>();
  }

  const gallery = async (productId: string): Promise<ImageBody[]> => {
    const res = await call(api(), 'GET', `/api/v1/products/${productId}/images`, admin);
    expect(res.statusCode).toBe(200);
    return res.json<{ items: ImageBody[] }>().items;
  };

  const progress = async (id: string): Promise<Run> => {
    const res = await call(api(), 'GET', `/api/v1/renditions/rebuilds/${id}`, admin);
    expect(res.statusCode).toBe(200);
    return res.json<Run>();
  };

  /** The newest run (the one under way, if any). */
  const latestRun = async (): Promise<Run> => {
    const res = await call(api(), 'GET', '/api/v1/renditions/rebuilds?per_page=1', admin);
    expect(res.statusCode).toBe(200);
    return res.json<{ items: Run[] }>().items[0];
  };

  /** The keys the rows name: every original, and every rendition stored as a file of its own. */
  const namedKeys = async (): Promise<string[]> => {
    const rows: { storage_key: string; renditions: Record<string, { key: string }> }[] = await api()
      .get(DataSource)
      .query('SELECT storage_key, renditions FROM images');
    const keys = rows.flatMap((row) => [
      row.storage_key,
      ...Object.values(row.renditions).map((r) => r.key),
    ]);
    return [...new Set(keys)].sort();
  };

  /** What the backend holds: keys (local, S3) or public ids (Cloudinary). */
  const stored = (): string[] => backend.stored();

  it('after a restart with other presets, re-makes every image and deletes the old files', async () => {
    const productId = await newProduct('Lamp');
    const images = [
      await upload(productId, await solidJpeg(640, 480), 'image/jpeg'),
      await upload(productId, await noisyPng(300, 500), 'image/png'),
    ];
    const standalone = await uploadStandalone(await solidJpeg(400, 400));
    expect(images[0].renditions.thumb).toMatchObject({ width: 150, height: 150 });
    const oldKeys = await namedKeys();
    await stop();

    await start(AFTER);

    // The instance started a run at start-up: the newest run, followed through its route.
    const list = await call(api(), 'GET', '/api/v1/renditions/rebuilds', admin);
    expect(list.statusCode).toBe(200);
    const [started] = list.json<{ items: Run[] }>().items;
    expect(started).toMatchObject({ presets: AFTER_SIGNATURE, trigger: 'start-up' });
    const run = await eventuallyRead(
      () => progress(started.id),
      (r) => r.state === 'completed',
      'the run to complete',
      60_000,
    );
    expect(run).toMatchObject({ total: 3, done: 3, failed: 0 });
    expect(run.finished_at).not.toBeNull();

    // While a run for these presets is under way or not, asking again starts nothing to do.
    const again = await call(api(), 'POST', '/api/v1/renditions/rebuilds', admin);
    expect(again.statusCode).toBe(202);
    expect(again.headers.location).toBe(`/api/v1/renditions/rebuilds/${again.json<Run>().id}`);
    const second = await eventuallyRead(
      () => progress(again.json<Run>().id),
      (r) => r.state === 'completed',
      'the run to complete',
      60_000,
    );
    expect(second).toMatchObject({ trigger: 'admin', total: 0, done: 0, failed: 0 });

    // Every old rendition file is deleted (in the background, after the swap); originals stay.
    const newKeys = await namedKeys();
    const released = oldKeys.filter((key) => !newKeys.includes(key));
    await eventuallyRead(
      async () => stored(),
      (keys) => released.every((key) => !keys.includes(key)),
      'the released files to be deleted',
      60_000,
    );
    if (driver === 'cloudinary') {
      // Renditions are transformations of the original: only the originals were ever stored.
      expect(released).toEqual([]);
      expect(stored()).toHaveLength(3);
    } else {
      expect(stored()).toEqual(newKeys);
      expect(oldKeys.filter((key) => /\/original\.\w+$/.test(key))).toEqual(
        newKeys.filter((key) => /\/original\.\w+$/.test(key)),
      );
    }

    // Every listed rendition is of the new presets and serves an image of the new size.
    const listed = (await gallery(productId)).flatMap((image) =>
      Object.entries(image.renditions).map(([name, r]) => ({ name, image, ...r })),
    );
    const res = await call(api(), 'GET', `/api/v1/images/${standalone.id}`, admin);
    const asset = res.json<ImageBody & { renditions: Record<string, string> }>();
    listed.push(
      ...Object.entries(asset.renditions).map(([name, url]) => ({
        name,
        image: asset,
        url,
        ...expectedSize(asset, name),
      })),
    );
    expect(listed.map((r) => r.name).sort()).toEqual(
      ['card', 'thumb', 'wide'].flatMap((name) => [name, name, name]),
    );
    for (const rendition of listed) {
      const { name, image, url } = rendition;
      const size = expectedSize(image, name);
      expect({ name, width: rendition.width, height: rendition.height }).toEqual({ name, ...size });
      if (driver === 'cloudinary') {
        // Delivered by Cloudinary's transformation: the URL asks for the new preset's box.
        const [boxWidth, boxHeight] = BOXES[name];
        expect(url).toContain(`w_${boxWidth}`);
        expect(url).toContain(`h_${boxHeight}`);
        continue;
      }
      const file = await fetchDelivered(api(), url);
      expect(file.status).toBe(200);
      const { width, height, format } = await sharp(file.body).metadata();
      expect({ name, width, height, format }).toEqual({ name, ...size, format: 'webp' });
    }
  });

  /**
   * Back to the first presets (a run re-makes the images so far with them), then a new image of a
   * new product, and the instance stopped: the next start, with AFTER, re-makes that image.
   */
  async function imageToRemake(name: string) {
    await stop();
    await start(BEFORE);
    await eventuallyRead(
      () => latestRun(),
      (r) => r.presets !== AFTER_SIGNATURE && r.state === 'completed',
      'a run of the first presets to complete',
      60_000,
    );
    const productId = await newProduct(name);
    const image = await upload(productId, await solidJpeg(320, 240), 'image/jpeg');
    await stop();
    return { productId, image, id: decodeId(image.id)! };
  }

  /**
   * RenditionMaker.make held, for the image `id`, before it reads the original or after it has
   * stored the new renditions: `reached` once there, until `release`.
   */
  function holdMake(id: string, when: 'before' | 'after') {
    let reach!: () => void;
    const reached = new Promise<void>((resolve) => (reach = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const original = RenditionMaker.prototype.make;
    const spy = jest.spyOn(RenditionMaker.prototype, 'make').mockImplementation(async function (
      this: RenditionMaker,
      ...args
    ) {
      const hold = async () => {
        if (args[0].id !== id) return;
        reach();
        await released;
      };
      if (when === 'before') await hold();
      const made = await original.apply(this, args);
      if (when === 'after') await hold();
      return made;
    });
    return { reached, release, restore: () => spy.mockRestore() };
  }

  async function deleteImage(productId: string, imageId: string): Promise<void> {
    const res = await call(
      api(),
      'DELETE',
      `/api/v1/products/${productId}/images/${imageId}`,
      admin,
    );
    expect(res.statusCode).toBe(204);
  }

  /** The newest run, of the AFTER presets, once it has completed. */
  async function afterRunCompleted(): Promise<Run> {
    const run = await latestRun();
    expect(run.presets).toBe(AFTER_SIGNATURE);
    return eventuallyRead(
      () => progress(run.id),
      (r) => r.state === 'completed',
      'the run to complete',
      60_000,
    );
  }

  /** Until the storage holds no file of the image `id`. */
  async function filesGone(id: string): Promise<void> {
    await eventuallyRead(
      async () => stored().filter((key) => key.includes(id)),
      (keys) => keys.length === 0,
      "the image's files to be deleted",
      60_000,
    );
  }

  it('leaves no file behind when an image is deleted while its renditions are re-made', async () => {
    const { productId, image, id } = await imageToRemake('Chair');
    // The instance re-makes the image's renditions, and is held once they are stored.
    const held = holdMake(id, 'after');
    try {
      await start(AFTER);
      await held.reached;
      // Its new files are stored, the row not yet swapped: the image is deleted now.
      await deleteImage(productId, image.id);
      held.release();
      const done = await afterRunCompleted();
      expect(done).toMatchObject({ total: 4, done: 4, failed: 0 });
    } finally {
      held.release();
      held.restore();
    }
    // Neither the old files nor the new ones outlive the image.
    await filesGone(id);
  });

  it('counts an image deleted before its original is read as done, not failed', async () => {
    const { productId, image, id } = await imageToRemake('Stool');
    // The instance takes the image's job, and is held before it reads the original.
    const held = holdMake(id, 'before');
    try {
      await start(AFTER);
      await held.reached;
      await deleteImage(productId, image.id);
      // Its files are deleted (a job run just after the commit) before the job reads them.
      await filesGone(id);
      held.release();
      const done = await afterRunCompleted();
      expect(done).toMatchObject({ failed: 0, done: done.total });
    } finally {
      held.release();
      held.restore();
    }
  });

  it('marks images stored before presets were recorded, re-making only those that differ', async () => {
    // As rows written before rendition_set existed: not recorded, one with other renditions.
    const db = api().get(DataSource);
    const [changed, ...same] = await db.query<{ id: string; renditions: object }[]>(
      'SELECT id, renditions FROM images ORDER BY id',
    );
    await db.query('UPDATE images SET rendition_set = NULL');
    await db.query(
      `UPDATE images SET renditions = jsonb_set(renditions, '{thumb,width}', '99') WHERE id = $1`,
      [changed.id],
    );
    await stop();

    await start(AFTER);

    const run = await eventuallyRead(
      () => latestRun(),
      (r) => r.trigger === 'start-up' && r.state === 'completed',
      'the start-up run to complete',
      60_000,
    );
    expect(run).toMatchObject({ presets: AFTER_SIGNATURE, total: 1, done: 1, failed: 0 });
    const rows = await api()
      .get(DataSource)
      .query<
        { id: string; renditions: Record<string, { width: number }>; rendition_set: string }[]
      >('SELECT id, renditions, rendition_set FROM images ORDER BY id');
    expect(rows.map((row) => row.rendition_set)).toEqual(rows.map(() => AFTER_SIGNATURE));
    // The others were only marked: the same renditions, the same files.
    expect(rows.slice(1).map((row) => row.renditions)).toEqual(same.map((row) => row.renditions));
    expect(rows[0].renditions.thumb.width).toBe(100);
  });
});
