import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { decodeId } from '../../src/common/ids/short-id';
import { IMAGE_REBUILD_QUEUE } from '../../src/images/renditions/image-rebuild.job';
import { RenditionMaker } from '../../src/images/renditions/rendition-maker.service';
import { IMPORT_ROWS_QUEUE } from '../../src/imports/import-worker.service';
import { JobQueue } from '../../src/jobs/job-queue.service';
import { Metrics } from '../../src/metrics/metrics.service';
import { Role } from '../../src/auth/roles';
import { filesBelow } from '../support/accounts';
import { eventually, eventuallyRead } from '../support/eventually';
import { noisyPng, solidJpeg } from '../support/fixtures';
import { authHeaders, call, login, uploadToNewProduct, type Credential } from '../support/http';
import { guardedConnect } from '../support/loopback-guard';
import {
  eventually as eventuallyTrue,
  multipartBody,
  parseRawResponse,
  RawClient,
  requestHead,
  type RawResponse,
} from '../support/slow-client';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { whileSlotHeld } from '../support/held-slot';
import { metricValue } from '../support/metrics';

interface Job {
  id: string;
  state: string;
  error: string | null;
}

/**
 * Work that ends in processing, met with the processor saturated (its one slot taken, no queue):
 * each is refused `server_busy` before the costly part of preparing it (a URL's image fetched, a
 * stored original read back from storage), not after, as a transform URL already was.
 */
describe('Work refused by a saturated processor before it is prepared', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let admin: Credential;
  let png: Buffer;
  const images = { origin: '', hits: 0, close: async () => {} };

  beforeAll(async () => {
    jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect);
    png = await noisyPng(300, 200);
    const server = http.createServer((_req, res) => {
      images.hits++;
      res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    images.origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    images.close = async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    };
    storage = await startStorageBackend('local');
    // One image processed at a time and none waiting: a second at once is refused.
    t = await startTestApp({
      ...storage.env,
      IMAGE_PROCESSING_CONCURRENCY: '1',
      IMAGE_PROCESSING_QUEUE_LIMIT: '0',
      JOB_POLL_INTERVAL_MS: '500',
      IMPORT_ALLOWED_PRIVATE_ORIGINS: images.origin,
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await t?.close();
    await storage?.close();
    await images.close();
  });

  const spoolFiles = () => filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'));
  const sample = async (name: string, labels: Record<string, string> = {}) =>
    metricValue(await app.get(Metrics).scrape(), name, labels);
  const storageReads = () =>
    sample('storage_operation_duration_seconds_count', { operation: 'read' });
  const refusals = () => sample('image_processing_server_busy_total', { operation: 'process' });

  /** The only job of `queue`, each retry made due at once (the back-off skipped). */
  async function jobOf(queue: string, due = false): Promise<Job | undefined> {
    if (due) {
      await app
        .get(DataSource)
        .query(`UPDATE pgboss.job SET start_after = now() WHERE name = $1 AND state = 'retry'`, [
          queue,
        ]);
      app.get(JobQueue).wake(queue);
    }
    const res = await call(app, 'GET', `/api/v1/jobs?queue=${queue}`, admin);
    return res.json<{ items: Job[] }>().items[0];
  }

  it("refuses the Ocha API's image from a URL before fetching it", async () => {
    const product = (await call(app, 'POST', '/api/v1/products', admin, { name: 'Ocha' })).json<{
      id: string;
    }>().id;
    const image = `${images.origin}/product.png`;
    await whileSlotHeld(app, async () => {
      const [hits, refused] = [images.hits, await refusals()];
      const res = await call(app, 'PUT', `/api/v1/products/${product}/image`, admin, { image });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json().code).toBe('server_busy');
      // Not fetched (nor written to the spool) only to be refused.
      expect(images.hits).toBe(hits);
      expect(await refusals()).toBe(refused + 1);
      expect(spoolFiles()).toEqual([]);
    });
    const gallery = await call(app, 'GET', `/api/v1/products/${product}/images`, admin);
    expect(gallery.json<{ items: unknown[] }>().items).toEqual([]);
    // The slot free again, the same import is made.
    const again = await call(app, 'PUT', `/api/v1/products/${product}/image`, admin, { image });
    expect(again.statusCode).toBe(200);
  });

  it("retries a bulk import's row without fetching its image while the processor is saturated", async () => {
    const product = (await call(app, 'POST', '/api/v1/products', admin, { name: 'Bulk' })).json<{
      id: string;
    }>().id;
    const rows = [{ product_id: product, url: `${images.origin}/bulk.png` }];
    let importId = '';
    await whileSlotHeld(app, async () => {
      const hits = images.hits;
      const posted = await call(app, 'POST', '/api/v1/imports', admin, { rows });
      expect(posted.statusCode).toBe(202);
      importId = posted.json<{ id: string }>().id;
      const job = await eventuallyRead(
        () => jobOf(IMPORT_ROWS_QUEUE),
        (j) => j?.state === 'retry',
        "the row's job to be refused and wait for its retry",
      );
      expect(job?.error).toBe('Too many images are being processed; retry shortly.');
      // Its image was not fetched (nor written to the spool) only to be refused.
      expect(images.hits).toBe(hits);
      expect(spoolFiles()).toEqual([]);
      const pending = await call(app, 'GET', `/api/v1/imports/${importId}`, admin);
      expect(pending.json()).toMatchObject({ counts: { total: 1, pending: 1, ok: 0 } });
    });
    // The slot free again, the retry imports it.
    const done = await eventuallyRead(
      async () => {
        await jobOf(IMPORT_ROWS_QUEUE, true);
        return (await call(app, 'GET', `/api/v1/imports/${importId}`, admin)).json<{
          state: string;
          counts: object;
        }>();
      },
      (body) => body.state === 'completed',
      'the retried import to complete',
      60_000,
    );
    expect(done.counts).toMatchObject({ total: 1, ok: 1, failed: 0 });
  });

  it("retries a rendition rebuild's image without reading its original while the processor is saturated", async () => {
    const { id } = await uploadToNewProduct(app, admin, await solidJpeg(400, 300), 'Rebuilt');
    // The image was made with other presets than this instance's.
    await app
      .get(DataSource)
      .query(`UPDATE images SET rendition_set = 'thumb:1x1:cover' WHERE id = $1`, [decodeId(id)]);
    let runId = '';
    await whileSlotHeld(app, async () => {
      const [reads, refused] = [await storageReads(), await refusals()];
      const started = await call(app, 'POST', '/api/v1/renditions/rebuilds', admin);
      expect(started.statusCode).toBe(202);
      runId = started.json<{ id: string }>().id;
      const job = await eventuallyRead(
        () => jobOf(IMAGE_REBUILD_QUEUE),
        (j) => j?.state === 'retry',
        "the image's job to be refused and wait for its retry",
      );
      expect(job?.error).toBe('Too many images are being processed; retry shortly.');
      // Its original was not read from storage (nor copied into the spool) only to be refused.
      expect(await storageReads()).toBe(reads);
      expect(await refusals()).toBe(refused + 1);
      expect(spoolFiles()).toEqual([]);
    });
    // The slot free again, the retry re-makes it.
    const run = await eventuallyRead(
      async () => {
        await jobOf(IMAGE_REBUILD_QUEUE, true);
        return (await call(app, 'GET', `/api/v1/renditions/rebuilds/${runId}`, admin)).json<{
          state: string;
        }>();
      },
      (body) => body.state === 'completed',
      'the retried rebuild to complete',
      60_000,
    );
    expect(run).toMatchObject({ total: 1, done: 1, failed: 0 });
    const [row] = await app
      .get(DataSource)
      .query<{ rendition_set: string }[]>(`SELECT rendition_set FROM images WHERE id = $1`, [
        decodeId(id),
      ]);
    expect(row.rendition_set).toBe(app.get(RenditionMaker).renditionSet);
  });

  /**
   * `Expect: 100-continue` (curl's for a body over 1 MB, many SDKs'): the client waits for the
   * invitation before sending its body. An upload the saturated processor would refuse is refused
   * from its headers, so its body is never sent; without the expectation the body is already on
   * its way, and is read before the refusal (closing on it would be a reset, not a 503).
   */
  describe('an upload that expects 100-continue', () => {
    let port: number;
    let key: string;
    let productId: string;
    let organizationId: string;
    let jpeg: Buffer;

    beforeAll(async () => {
      jpeg = await solidJpeg(64, 48);
      await app.listen({ port: 0, host: '127.0.0.1' });
      port = (app.getHttpServer().address() as net.AddressInfo).port;
      const created = await call(app, 'POST', '/api/v1/api-keys', admin, {
        name: 'expect',
        role: Role.Staff,
        scopes: ['images:write', 'images:read'],
      });
      key = created.json<{ key: string }>().key;
      const product = await call(app, 'POST', '/api/v1/products', admin, { name: 'Expecting' });
      productId = product.json<{ id: string }>().id;
      const me = await call(app, 'GET', '/api/v1/auth/me', { apiKey: key });
      organizationId = me.json<{ organization: { id: string } }>().organization.id;
    });

    interface Upload {
      what: string;
      method: string;
      path: () => string;
      credential: () => Credential;
      /** The body and its Content-Type. */
      body: () => { type: string; bytes: Buffer };
      extra?: Record<string, string>;
    }

    const form =
      (fields: Record<string, string> = {}) =>
      () => {
        const { contentType, body } = multipartBody(jpeg, fields);
        return { type: contentType, bytes: body };
      };
    const dataUri = () => ({
      type: 'application/json',
      bytes: Buffer.from(
        JSON.stringify({ image: `data:image/jpeg;base64,${jpeg.toString('base64')}` }),
      ),
    });
    const uploads: Upload[] = [
      {
        what: 'a gallery upload',
        method: 'POST',
        path: () => `/api/v1/products/${productId}/images`,
        credential: () => admin,
        body: form({ title: 'Front' }),
      },
      {
        what: 'a stand-alone upload',
        method: 'POST',
        path: () => '/api/v1/images',
        credential: () => admin,
        body: form({ purpose: 'product' }),
      },
      {
        what: "the Ocha API's data URI, with an Idempotency-Key (whose digest pipes the body)",
        method: 'PUT',
        path: () => `/api/v1/products/${productId}/image`,
        credential: () => admin,
        body: dataUri,
        extra: { 'idempotency-key': 'expect-busy-ocha' },
      },
      {
        what: "the token API's upload",
        method: 'POST',
        path: () => `/api/products/${productId}/images`,
        credential: () => ({ token: key }),
        body: form(),
      },
      {
        what: "Closient's upload",
        method: 'POST',
        path: () => `/dashboard/api/v1/trade-items/${organizationId}/4006381333931/images`,
        credential: () => ({ apiKey: key }),
        body: form(),
      },
      {
        what: "Inventorum's upload",
        method: 'POST',
        path: () => '/api/images/',
        credential: () => ({ bearer: key }),
        body: form({ type: 'product' }),
        extra: { 'x-api-version': '12' },
      },
      {
        what: "the back-office uploader's upload",
        method: 'POST',
        path: () => '/upload/image',
        credential: () => ({ apiKey: key }),
        body: form(),
      },
    ];

    /** Sends the head of `upload`'s request; its first answer, interim or final. */
    async function ask(
      upload: Upload,
      expectContinue: boolean,
    ): Promise<{ client: RawClient; body: Buffer; first: RawResponse | undefined }> {
      const { type, bytes } = upload.body();
      const headers = {
        ...authHeaders(upload.credential()),
        'content-type': type,
        ...upload.extra,
        ...(expectContinue ? { expect: '100-continue' } : {}),
      };
      const client = await RawClient.connect(port);
      await client.write(requestHead(upload.method, upload.path(), headers, bytes.length));
      return { client, body: bytes, first: await client.answered(expectContinue ? 10_000 : 1000) };
    }

    /** The final answer after `100 Continue`, once the body is sent. */
    async function continued(client: RawClient, body: Buffer): Promise<RawResponse | undefined> {
      await client.write(body);
      const after = () => {
        const received = client.received();
        return parseRawResponse(received.subarray(received.indexOf('\r\n\r\n') + 4));
      };
      await eventuallyTrue(() => after() !== undefined || client.closedAt !== undefined, 30_000);
      client.destroy();
      return after();
    }

    const imageRows = async () =>
      Number(
        (await app.get(DataSource).query<{ n: string }[]>('SELECT count(*) AS n FROM images'))[0].n,
      );

    it.each(uploads)('answers 503 server_busy to $what, without 100 Continue first', async (u) => {
      await whileSlotHeld(app, async () => {
        const [rows, refused] = [await imageRows(), await refusals()];
        const { client, first } = await ask(u, true);
        client.destroy();
        // The first answer is the final one: no invitation, so no body is sent.
        expect(client.received().toString('latin1')).not.toMatch(/^HTTP\/1\.1 100/);
        expect(first?.status).toBe(503);
        expect(first?.headers['retry-after']).toBe('5');
        expect(first?.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(first!.body)).toMatchObject({ code: 'server_busy', status: 503 });
        expect(await refusals()).toBe(refused + 1);
        expect(await imageRows()).toBe(rows);
        expect(spoolFiles()).toEqual([]);
      });
    });

    it('invites the same upload once the slot is free, and stores it', async () => {
      const gallery = uploads[0];
      const { client, body, first } = await ask(gallery, true);
      expect(first?.status).toBe(100);
      expect((await continued(client, body))?.status).toBe(201);
    });

    it('invites the JSON body of an attach to the gallery, which processes nothing', async () => {
      await whileSlotHeld(app, async () => {
        const attach: Upload = {
          ...uploads[0],
          body: () => ({
            type: 'application/json',
            bytes: Buffer.from(JSON.stringify({ image_id: randomUUID() })),
          }),
        };
        const { client, body, first } = await ask(attach, true);
        expect(first?.status).toBe(100);
        expect((await continued(client, body))?.status).toBe(404);
      });
    });

    it('still refuses 401 an unauthenticated upload first', async () => {
      await whileSlotHeld(app, async () => {
        const { client, first } = await ask({ ...uploads[0], credential: () => undefined }, true);
        client.destroy();
        expect(first?.status).toBe(401);
      });
    });

    it('without the expectation, reads the body before refusing it, as before', async () => {
      await whileSlotHeld(app, async () => {
        const refused = await refusals();
        const { client, body, first } = await ask(uploads[0], false);
        // Nothing is answered while the body is on its way: it is read to the spool first.
        expect(first).toBeUndefined();
        await client.write(body);
        const answer = await client.answered(30_000);
        client.destroy();
        expect(answer?.status).toBe(503);
        expect(answer?.headers['retry-after']).toBe('5');
        expect(JSON.parse(answer!.body)).toMatchObject({ code: 'server_busy' });
        expect(await refusals()).toBe(refused + 1);
      });
      await eventually(() => spoolFiles().length === 0, 'the spool to be emptied');
    });
  });
});
