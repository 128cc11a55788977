import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { decodeId } from '../../src/common/ids/short-id';
import { eventuallyRead } from '../support/eventually';
import { FaultyStorage } from '../support/faulty-storage';
import { solidJpeg } from '../support/fixtures';
import { call, login, uploadToNewProduct, type Credential } from '../support/http';
import {
  fetchDelivered,
  PUBLIC_BASE,
  startStorageBackend,
  type StorageBackend,
} from '../support/storage-backends';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { TEST_ADMIN, testAppEnv } from '../support/test-app';

const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

/**
 * An image's DELETE deletes its files before it answers, so that no delivery URL serves them
 * after; but a storage that refuses those deletions (a folder gone read-only, a disk failing)
 * left them in place, and /media, which looked at the storage alone, served them until the
 * file-deletion job's retry succeeded (its back-off reaching hours), on the instance that deleted
 * the image and on every other. Two instances on one database and one storage folder, as a
 * deployment runs them: A deletes the image, its storage refusing to delete anything; B only
 * serves (SERVICE_ROLE=api: no worker of its own to retry the deletion meanwhile).
 */
onServer('A deleted image whose files the storage refused to delete', () => {
  let db: TestDatabase;
  let backend: StorageBackend;
  const faulty = new FaultyStorage();
  let a: NestFastifyApplication;
  let b: NestFastifyApplication;
  let admin: Credential;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    backend = await startStorageBackend('local');
    const env = testAppEnv(db, { ...backend.env, PUBLIC_BASE_URL: PUBLIC_BASE });
    a = await createApp({ env, wrapStorage: faulty.wrap });
    b = await createApp({ env: { ...env, SERVICE_ROLE: 'api' } });
    admin = { bearer: await login(a, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await backend?.close();
    await db?.drop();
  });

  afterEach(() => faulty.heal());

  it('is no longer served by /media nor by its transform URLs, on any instance', async () => {
    const image = await uploadToNewProduct(a, admin, await solidJpeg(400, 300), 'Refused');
    const transform = `/transform/unsigned/p_thumb,f_webp/${image.id}`;
    for (const app of [a, b]) {
      expect((await fetchDelivered(app, image.url)).status).toBe(200);
      expect((await app.inject({ method: 'GET', url: transform })).statusCode).toBe(200);
    }
    const ofImage = () => backend.stored().filter((key) => key.includes(decodeId(image.id)!));
    const files = ofImage();
    faulty.failNext('delete', { mode: 'error', times: 1_000 });

    const res = await call(
      a,
      'DELETE',
      `/api/v1/products/${image.productId}/images/${image.id}`,
      admin,
    );
    expect(res.statusCode).toBe(204);
    // The storage kept every file: this is the case under test.
    expect(ofImage()).toEqual(files);
    // The instance that deleted it: at once.
    expect((await fetchDelivered(a, image.url)).status).toBe(404);
    expect((await a.inject({ method: 'GET', url: transform })).statusCode).toBe(404);
    // Another: within seconds (it learns of the deletion from the database), not at the retry.
    const onB = await eventuallyRead(
      async () => ({
        media: (await fetchDelivered(b, image.url)).status,
        transform: (await b.inject({ method: 'GET', url: transform })).statusCode,
      }),
      (statuses) => statuses.media === 404 && statuses.transform === 404,
      'the other instance to stop delivering the deleted image',
      15_000,
    );
    expect(onB).toEqual({ media: 404, transform: 404 });
    expect(ofImage()).toEqual(files);
  });
});
