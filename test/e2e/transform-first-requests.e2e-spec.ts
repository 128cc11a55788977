import type { Readable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { StorageProvider } from '../../src/storage/storage-provider';
import { noisyPng } from '../support/fixtures';
import { call, login, uploadToNewProduct, type Credential } from '../support/http';
import { PUBLIC_BASE, startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { transformSignature } from '../support/transform-signature';

const KEY = 'first-requests-signing-key-0123456789abcdef';

/**
 * The storage as it is, with a count of the stored originals being read back at once (from the
 * read's start until its stream is closed). Each read starts a little late, as over a network,
 * so that reads asked for together are seen together.
 */
class CountedReads {
  active = 0;
  most = 0;

  readonly wrap = <P extends StorageProvider>(provider: P): P => {
    const read = async (key: string) => {
      this.active++;
      this.most = Math.max(this.most, this.active);
      let stream: Readable | undefined;
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const object = await provider.read!(key);
        stream = object?.stream;
        return object;
      } finally {
        if (stream && !stream.closed) stream.once('close', () => this.active--);
        else this.active--;
      }
    };
    return new Proxy(provider, {
      get: (target, property) =>
        property === 'read' ? read : (Reflect.get(target, property, target) as unknown),
    });
  };
}

/**
 * A burst of first requests for many new results of one image (a page of new srcsets, a crawler):
 * each result is made from the stored original, through the processor's slots. A request waiting
 * for its turn to read holds nothing: at most TRANSFORM_READ_CONCURRENCY originals are being read
 * or, read, wait for a processing slot. Read up front, every waiting request held a connection to
 * the storage and a spooled copy of the original: 300 such first requests on S3 read 300
 * originals at once (the S3 client's pool has 50 connections, which the burst's other storage
 * requests then waited for), and 300 spooled originals of 10 MB is 3 GB on the spool's disk.
 */
describe('First requests for many new results of one image', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  const reads = new CountedReads();

  beforeAll(async () => {
    backend = await startStorageBackend('s3');
    t = await startTestApp(
      {
        ...backend.env,
        PUBLIC_BASE_URL: PUBLIC_BASE,
        DELIVERY_SIGNING_KEYS: KEY,
        IMAGE_PROCESSING_CONCURRENCY: '1',
        TRANSFORM_READ_CONCURRENCY: '3',
      },
      { wrapStorage: reads.wrap },
    );
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  it('reads the original for the results being made only, and makes them all', async () => {
    const { id } = await uploadToNewProduct(
      app,
      admin,
      await noisyPng(1200, 900),
      'Many sizes',
      'image/png',
    );
    reads.most = 0;
    const results = Array.from({ length: 12 }, (_, i) => `w_640,h_${200 + i},f_webp`);
    const answers = await Promise.all(
      results.map((options) =>
        call(app, 'GET', `/transform/${transformSignature(KEY, options, id)}/${options}/${id}`),
      ),
    );
    expect(answers.map((res) => res.statusCode)).toEqual(results.map(() => 200));
    expect(answers.map((res) => res.headers['content-type'])).toEqual(
      results.map(() => 'image/webp'),
    );
    // Three read slots: three originals read at a time at most, whatever the number of requests
    // waiting (read ahead of the one processing slot, not one at a time behind it).
    expect(reads.most).toBeLessThanOrEqual(3);
    expect(reads.most).toBeGreaterThan(1);
    expect(reads.active).toBe(0);
  });
});
