import { once } from 'node:events';
import { statSync, watch } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { decodeId } from '../../src/common/ids/short-id';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { call, login } from '../support/http';
import { multipart } from '../support/multipart';
import { multipartBody, RawClient, requestHead } from '../support/slow-client';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * A client that vanishes at each stage of an upload or an import (issue 20 §1), on a real socket:
 * destroyed, or half-closed (a FIN, which Node's HTTP server takes as the end of the client: it
 * aborts the request and ends the connection; before the body's end its parser refuses the
 * request, answered 400 problem+json, and after it nothing is answered). Before the body is
 * complete the request is dropped: no image row, no import, no stored file. Once the body is in,
 * the work is not cancelled: it runs to its end, and exactly one complete image is kept,
 * unanswered.
 * Either way no temporary file stays, the storage holds exactly the files of the rows, the gallery
 * keeps exactly one primary, and the service stays ready.
 */

interface ImageRow {
  id: string;
  product_id: string | null;
  is_primary: boolean;
  storage_key: string;
  renditions: Record<string, { key: string }>;
}

/** A request as raw bytes: the request line and headers, then the body. */
interface RawRequest {
  head: string;
  body: Buffer;
}

function problemCode(payload: unknown): string | undefined {
  try {
    return (JSON.parse(String(payload)) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

/**
 * Small in bytes, slow to process: 24 megapixels, in CMYK, so that the original must be converted
 * to sRGB and re-encoded (seconds on this machine; a JPEG needing no pixel change is stored as
 * sent, too fast to hang up during). Noise would make it tens of megabytes for the same work.
 * One colour: converted to CMYK on a tile, which is then enlarged in CMYK. Converting all 24
 * megapixels from sRGB instead made the same bytes in 10 to 17 s, the longest step of the file.
 */
async function slowToProcess(): Promise<Buffer> {
  const tile = await sharp({
    create: { width: 16, height: 16, channels: 3, background: '#7a5c3e' },
  })
    .toColourspace('cmyk')
    .jpeg({ quality: 90 })
    .toBuffer();
  const image = await sharp(tile)
    .pipelineColourspace('cmyk')
    .resize(6000, 4000, { kernel: 'nearest' })
    .toColourspace('cmyk')
    .jpeg({ quality: 90 })
    .toBuffer();
  const { width, height, space, channels } = await sharp(image).metadata();
  expect({ width, height, space, channels }).toEqual({
    width: 6000,
    height: 4000,
    space: 'cmyk',
    channels: 4,
  });
  return image;
}

describe('A client that disconnects', () => {
  let t: TestApp;
  let ds: DataSource;
  let storage: StorageBackend;
  let images: http.Server;
  let imagesOrigin: string;
  /** Requests the image server has started answering (it trickles its answers). */
  const served: string[] = [];
  /** Requests the image server has answered whole: every byte handed to the connection. */
  const sentWhole: string[] = [];
  const answers: { url: string; id: string; status: number; code?: string }[] = [];
  /** The URLs of the requests whose body the service has read to its end. */
  const bodiesRead: string[] = [];
  /** URLs whose handler starts only once the client is gone (after the body, before the handler). */
  const holdUntilClientGone = new Set<string>();
  let port: number;
  let bearer: string;
  /** An image small in bytes, slow to process (slowToProcess()). */
  let big: Buffer;

  beforeAll(async () => {
    big = await slowToProcess();
    images = http.createServer((req, res) => {
      const url = req.url ?? '';
      served.push(url);
      res.on('finish', () => sentWhole.push(url));
      // /quick-… at once, as an image server on a fast link; anything else trickled.
      if (url.startsWith('/quick-')) {
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': big.length });
        res.end(big);
      } else {
        trickle(res, big, 10, 150);
      }
    });
    images.listen(0, '127.0.0.1');
    await once(images, 'listening');
    const imagesPort = (images.address() as AddressInfo).port;
    imagesOrigin = `http://127.0.0.1:${imagesPort}`;
    storage = await startStorageBackend('local');
    t = await startTestApp({
      ...storage.env,
      IMPORT_TIMEOUT_MS: '30000',
      IMPORT_ALLOWED_PORTS: `80,443,${imagesPort}`,
      IMPORT_ALLOWED_PRIVATE_ORIGINS: imagesOrigin,
    });
    ds = t.app.get(DataSource);
    // What the service answered, delivered or not: a vanished client never reads it.
    t.app
      .getHttpAdapter()
      .getInstance()
      .addHook('onSend', async (request, reply, payload) => {
        const code = reply.statusCode >= 400 ? problemCode(payload) : undefined;
        answers.push({ url: request.url, id: request.id, status: reply.statusCode, code });
      });
    t.app
      .getHttpAdapter()
      .getInstance()
      .addHook('onRequest', async (request) => {
        request.raw.once('end', () => bodiesRead.push(request.url));
      })
      .addHook('preHandler', async (request, reply) => {
        if (holdUntilClientGone.has(request.url) && !reply.raw.destroyed) {
          await once(reply.raw, 'close');
        }
      });
    bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await t?.close();
    await storage?.close();
    images?.closeAllConnections();
    await new Promise((resolve) => images?.close(resolve));
  });

  /** Sends `bytes` in `chunks` pieces, `everyMs` apart: an image server on a slow link. */
  function trickle(res: http.ServerResponse, bytes: Buffer, chunks: number, everyMs: number) {
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': bytes.length });
    const size = Math.ceil(bytes.length / chunks);
    let sent = 0;
    const timer = setInterval(() => {
      res.write(bytes.subarray(sent, sent + size));
      sent += size;
      if (sent >= bytes.length) {
        clearInterval(timer);
        res.end();
      }
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  }

  const tempFiles = () => [
    ...filesBelow(join(t.db.env.DATA_DIR, 'tmp')),
    ...filesBelow(join(storage.env.STORAGE_LOCAL_DIR, '.tmp')),
  ];
  const storedBelow = (prefix: string) => storage.stored().filter((k) => k.startsWith(prefix));

  let products = 0;
  async function newProduct(): Promise<string> {
    products++;
    const res = await call(t.app, 'POST', '/api/v1/products', { bearer }, { name: `P${products}` });
    expect(res.statusCode).toBe(201);
    const [{ id }] = await ds.query<{ id: string }[]>('SELECT id FROM products WHERE name = $1', [
      `P${products}`,
    ]);
    return id;
  }

  function imageRows(where: string, value: string): Promise<ImageRow[]> {
    return ds.query<ImageRow[]>(
      `SELECT id, product_id, is_primary, storage_key, renditions FROM images WHERE ${where} = $1`,
      [value],
    );
  }

  function upload(productId: string, title = 'Gone'): RawRequest {
    const { contentType, body } = multipartBody(big, { title });
    const head = requestHead(
      'POST',
      `/api/v1/products/${productId}/images`,
      { 'content-type': contentType, authorization: `Bearer ${bearer}` },
      body.length,
    );
    return { head, body };
  }

  function standaloneUpload(title: string): RawRequest {
    const { contentType, body } = multipartBody(big, { purpose: 'product', title });
    const head = requestHead(
      'POST',
      '/api/v1/images',
      { 'content-type': contentType, authorization: `Bearer ${bearer}` },
      body.length,
    );
    return { head, body };
  }

  function jsonImport(productId: string, image: string): RawRequest {
    const body = Buffer.from(JSON.stringify({ image }));
    const head = requestHead(
      'PUT',
      `/api/v1/products/${productId}/image`,
      { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body.length,
    );
    return { head, body };
  }

  /** Opens a connection and sends the head and the first `bytes` of the body. */
  async function start(request: RawRequest, bytes: number): Promise<RawClient> {
    const client = await RawClient.connect(port);
    await client.write(request.head);
    if (bytes > 0) await flushed(client, request.body.subarray(0, bytes));
    return client;
  }

  /** Writes `bytes` and resolves once the socket handed them to the system (not a queue in Node). */
  function flushed(client: RawClient, bytes: Buffer): Promise<void> {
    client.sent += bytes.length;
    return new Promise((resolve) => client.socket.write(bytes, () => resolve()));
  }

  type Vanish = 'destroyed' | 'half-closed';
  function vanish(client: RawClient, how: Vanish): void {
    if (how === 'destroyed') client.destroy();
    else client.socket.end();
  }

  /** What a client that vanished gets: nothing once destroyed; a 400 if it still reads. */
  function expectAnswerTo(how: Vanish, client: RawClient): void {
    if (how === 'destroyed') expect(client.answer()).toBeUndefined();
    else expectCutShort(client);
  }

  /**
   * What a client that half-closed before its body's end reads: Node's parser refuses the request
   * (HPE_INVALID_EOF_STATE), answered 400 bad_request problem+json with the request's id, and the
   * connection closed. The handler's own answer (invalid_multipart, ...) goes nowhere after it.
   */
  function expectCutShort(client: RawClient): void {
    const answer = client.answer();
    expect(answer?.status).toBe(400);
    expect(answer?.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(answer?.headers.connection).toBe('close');
    expect(JSON.parse(answer!.body)).toEqual({
      type: 'urn:product-images:problem:bad_request',
      title: 'Bad request',
      status: 400,
      detail: 'The request is not valid HTTP or ended before it was complete.',
      code: 'bad_request',
      errors: [],
      request_id: answer!.headers['x-request-id'],
    });
  }

  /**
   * Until the service has read the body to `url` to its end (its request emitted 'end'): it goes
   * on to process the image. A client that leaves before its body is read, even just after its
   * last byte, is dropped with it: Node aborts a request whose connection ends before it was
   * consumed. The image whole in the spool is not enough: what follows it in the body (the JSON's
   * `"}`, the multipart's closing boundary) can still be unread when the client leaves.
   */
  async function untilBodyRead(url: string): Promise<void> {
    await eventually(() => bodiesRead.includes(url), `the body to ${url} to be read to its end`);
  }

  /** Until the image an import fetched is in the spool whole. */
  async function untilSpooledWhole(): Promise<void> {
    const whole = () =>
      filesBelow(join(t.db.env.DATA_DIR, 'tmp')).some((file) => {
        try {
          return statSync(file).size === big.length;
        } catch {
          return false;
        }
      });
    await eventually(whole, 'the image to be spooled whole');
  }

  /** The service's answer to the request to `url` (there is one request a URL in this file). */
  async function answerTo(url: string): Promise<{ status: number; code?: string }> {
    await eventually(() => answers.some((a) => a.url === url), `the service to answer ${url}`);
    const { status, code } = answers.find((a) => a.url === url)!;
    return code === undefined ? { status } : { status, code };
  }

  async function expectReady(): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(res.status).toBe(200);
  }

  /**
   * What every stage must leave: no temporary file, no deletion still queued, and the storage
   * holding exactly the files the image rows name (no row without its files, no file without its
   * row), and a ready service.
   */
  async function expectConsistent(): Promise<void> {
    await eventually(() => tempFiles().length === 0, 'the temporary files to be removed');
    await eventually(
      async () => (await pendingFileDeletions(ds)).length === 0,
      'the queued file deletions to run',
    );
    const rows = await ds.query<ImageRow[]>('SELECT storage_key, renditions FROM images');
    const named = rows.flatMap((r) => [
      r.storage_key,
      ...Object.values(r.renditions).map((x) => x.key),
    ]);
    expect(storage.stored().sort()).toEqual([...new Set(named)].sort());
    await expectReady();
  }

  async function expectNoImage(productId: string): Promise<void> {
    await expectConsistent();
    expect(await imageRows('product_id', productId)).toEqual([]);
    expect(storedBelow(`products/${productId}/`)).toEqual([]);
  }

  /** Exactly one image for the product, the primary, complete in storage. */
  async function expectOneCompleteImage(productId: string): Promise<ImageRow> {
    await eventually(
      async () => (await imageRows('product_id', productId)).length > 0,
      'the image to be kept',
    );
    await expectConsistent();
    const rows = await imageRows('product_id', productId);
    expect(rows).toHaveLength(1);
    const [image] = rows;
    expect(image.is_primary).toBe(true);
    const keys = [image.storage_key, ...Object.values(image.renditions).map((r) => r.key)];
    expect(Object.keys(image.renditions).length).toBeGreaterThan(0);
    expect(storedBelow(`products/${productId}/`).sort()).toEqual([...new Set(keys)].sort());
    const product = await call(t.app, 'GET', `/api/v1/products/${productId}`, { bearer });
    expect(product.json()).toMatchObject({ image_count: 1 });
    return image;
  }

  describe('of a gallery upload (POST /products/:id/images)', () => {
    // A client gone before the handler runs (here during authentication) has closed the request
    // already: it is refused invalid_multipart rather than waiting for good for a 'close' that
    // has happened; gone a little later, @fastify/multipart's premature close is the same code.
    it('after the headers, before any body (destroyed): no image, a 400 unheard', async () => {
      const productId = await newProduct();
      const url = `/api/v1/products/${productId}/images`;
      const client = await start(upload(productId), 0);
      vanish(client, 'destroyed');
      await client.closed;
      expect(client.answer()).toBeUndefined();
      await expectNoImage(productId);
      await eventually(() => answers.some((a) => a.url === url), 'the handler to end');
      expect(await answerTo(url)).toEqual({ status: 400, code: 'invalid_multipart' });
    });

    it('after the headers, before any body (half-closed): no image', async () => {
      const productId = await newProduct();
      const client = await start(upload(productId), 0);
      vanish(client, 'half-closed');
      await client.closed;
      expectCutShort(client);
      await expectNoImage(productId);
      expect(await answerTo(`/api/v1/products/${productId}/images`)).toEqual({
        status: 400,
        code: 'invalid_multipart',
      });
    });

    it.each<Vanish>(['destroyed', 'half-closed'])(
      'in the middle of the file part (%s): no image',
      async (how) => {
        const productId = await newProduct();
        const request = upload(productId);
        const client = await start(request, Math.floor(request.body.length / 2));
        // The service is spooling the file when the client goes away.
        await eventually(() => tempFiles().length > 0, 'the upload to be spooled');
        vanish(client, how);
        await client.closed;
        expectAnswerTo(how, client);
        await expectNoImage(productId);
        expect(await answerTo(`/api/v1/products/${productId}/images`)).toEqual({
          status: 400,
          code: 'invalid_multipart',
        });
      },
    );

    // A half-close mid-body makes Node's parser fail (HPE_INVALID_EOF_STATE, a 'clientError'):
    // answered as every other error, problem+json, before the connection is closed.
    it('in the middle of the file part (half-closed): answers problem+json', async () => {
      const productId = await newProduct();
      const request = upload(productId);
      const client = await start(request, Math.floor(request.body.length / 2));
      await eventually(() => tempFiles().length > 0, 'the upload to be spooled');
      vanish(client, 'half-closed');
      await client.closed;
      expectCutShort(client);
      // The id of the request that was cut, with the headers of every other answer.
      const url = `/api/v1/products/${productId}/images`;
      await answerTo(url);
      const { headers } = client.answer()!;
      expect(headers['x-request-id']).toBe(answers.find((a) => a.url === url)!.id);
      expect(headers['content-security-policy']).toContain("default-src 'none'");
      expect(headers['cache-control']).toBe('no-store');
    });

    it.each<Vanish>(['destroyed', 'half-closed'])(
      'after the whole body, while the image is processed (%s): one complete image',
      async (how) => {
        const productId = await newProduct();
        const request = upload(productId);
        const client = await start(request, request.body.length);
        await untilBodyRead(`/api/v1/products/${productId}/images`);
        vanish(client, how);
        // A FIN ends the exchange for Node's server: it closes without an answer.
        await client.closed;
        expect(client.answer()).toBeUndefined();
        await expectOneCompleteImage(productId);
        expect(await answerTo(`/api/v1/products/${productId}/images`)).toEqual({ status: 201 });
      },
    );

    it('while the files are written to storage: one complete image', async () => {
      const productId = await newProduct();
      const request = upload(productId);
      // The service runs in this process: the watcher's callback runs before it can go further.
      const firstWrite = new Promise<void>((resolve) => {
        const watcher = watch(storage.env.STORAGE_LOCAL_DIR, { recursive: true }, () => {
          watcher.close();
          resolve();
        });
      });
      const client = await start(request, request.body.length);
      await firstWrite;
      client.destroy();
      expect(client.answer()).toBeUndefined();
      await expectOneCompleteImage(productId);
      expect(await answerTo(`/api/v1/products/${productId}/images`)).toEqual({ status: 201 });
    });

    it('once the row is committed, before the answer is read: one complete image', async () => {
      const productId = await newProduct();
      const request = upload(productId);
      const client = await start(request, request.body.length);
      await eventually(
        async () => (await imageRows('product_id', productId)).length > 0,
        'the row to commit',
      );
      client.destroy();
      await expectOneCompleteImage(productId);
      expect(await answerTo(`/api/v1/products/${productId}/images`)).toEqual({ status: 201 });
    });

    it('an upload cut while processed, then another primary: the gallery keeps one primary', async () => {
      const productId = await newProduct();
      const first = upload(productId, 'First');
      const client = await start(first, first.body.length);
      await untilBodyRead(`/api/v1/products/${productId}/images`);
      client.destroy();
      await expectOneCompleteImage(productId);
      const small = await sharp(big).resize(64).jpeg().toBuffer();
      const body = multipart({ is_primary: 'true' }, [
        { filename: 'b.jpg', contentType: 'image/jpeg', data: small },
      ]);
      const res = await call(
        t.app,
        'POST',
        `/api/v1/products/${productId}/images`,
        { bearer },
        body.payload,
        { headers: body.headers },
      );
      expect(res.statusCode).toBe(201);
      const rows = await imageRows('product_id', productId);
      expect(rows).toHaveLength(2);
      expect(rows.filter((r) => r.is_primary).map((r) => r.id)).toEqual([
        decodeId(res.json<{ id: string }>().id),
      ]);
      await expectConsistent();
    });
  });

  describe('of a stand-alone upload (POST /images)', () => {
    // Every request here goes to the same URL: each test reads the answers of its own.
    beforeEach(() => {
      answers.length = 0;
      bodiesRead.length = 0;
    });

    it.each<Vanish>(['destroyed', 'half-closed'])(
      'in the middle of the file part (%s): no image',
      async (how) => {
        const title = `Standalone mid-body, ${how}`;
        const request = standaloneUpload(title);
        const client = await start(request, Math.floor(request.body.length / 2));
        await eventually(() => tempFiles().length > 0, 'the upload to be spooled');
        vanish(client, how);
        await client.closed;
        expectAnswerTo(how, client);
        await expectConsistent();
        // No row; and the storage holds exactly the files of the rows (expectConsistent).
        expect(await imageRows('title', title)).toEqual([]);
        expect(await answerTo('/api/v1/images')).toEqual({
          status: 400,
          code: 'invalid_multipart',
        });
      },
    );

    it.each<Vanish>(['destroyed', 'half-closed'])(
      'after the whole body, while the image is processed (%s): one complete asset',
      async (how) => {
        const title = `Standalone processed, ${how}`;
        const request = standaloneUpload(title);
        const client = await start(request, request.body.length);
        await untilBodyRead('/api/v1/images');
        vanish(client, how);
        await client.closed;
        expect(client.answer()).toBeUndefined();
        await eventually(
          async () => (await imageRows('title', title)).length > 0,
          'the asset to be kept',
        );
        await expectConsistent();
        expect(await answerTo('/api/v1/images')).toEqual({ status: 201 });
        const rows = await imageRows('title', title);
        expect(rows).toHaveLength(1);
        expect(rows[0].product_id).toBeNull();
        expect(storedBelow(`uploads/${rows[0].id}/`).length).toBe(
          1 + Object.keys(rows[0].renditions).length,
        );
      },
    );
  });

  describe('of an image import (PUT /products/:id/image)', () => {
    const dataUri = () => `data:image/jpeg;base64,${big.toString('base64')}`;

    /** One complete image, named after the file the URL served, answered 200 to no one. */
    async function expectImportedUnheard(productId: string, filename: string): Promise<void> {
      const image = await expectOneCompleteImage(productId);
      expect(await answerTo(`/api/v1/products/${productId}/image`)).toEqual({ status: 200 });
      const [{ original_filename }] = await ds.query<{ original_filename: string }[]>(
        'SELECT original_filename FROM images WHERE id = $1',
        [image.id],
      );
      expect(original_filename).toBe(filename);
    }

    it.each<Vanish>(['destroyed', 'half-closed'])(
      'in the middle of the data URI (%s): no image',
      async (how) => {
        const productId = await newProduct();
        const request = jsonImport(productId, dataUri());
        const client = await start(request, Math.floor(request.body.length / 2));
        await eventually(() => tempFiles().length > 0, 'the data URI to be decoded to a file');
        vanish(client, how);
        await client.closed;
        expectAnswerTo(how, client);
        await expectNoImage(productId);
        expect(await answerTo(`/api/v1/products/${productId}/image`)).toEqual({
          status: 400,
          code: 'malformed_json',
        });
      },
    );

    it('while the service fetches the URL: the fetch goes on, one complete image', async () => {
      const productId = await newProduct();
      const url = `${imagesOrigin}/slow-${productId}.jpg`;
      const request = jsonImport(productId, url);
      const client = await start(request, request.body.length);
      await eventually(() => served.includes(`/slow-${productId}.jpg`), 'the fetch to start');
      client.destroy();
      expect(client.answer()).toBeUndefined();
      await expectImportedUnheard(productId, `slow-${productId}.jpg`);
    });

    // The fetch is over, not guessed to be: the image server has sent the last byte, and the
    // service has all of them in its spool. Processing a CMYK image of 24 megapixels follows.
    it.each<Vanish>(['destroyed', 'half-closed'])(
      'once the URL is fetched, while the image is processed (%s): one complete image',
      async (how) => {
        const productId = await newProduct();
        const path = `/quick-${productId}.jpg`;
        const request = jsonImport(productId, `${imagesOrigin}${path}`);
        const client = await start(request, request.body.length);
        await eventually(() => sentWhole.includes(path), 'the image server to send the image');
        await untilSpooledWhole();
        vanish(client, how);
        await client.closed;
        expect(client.answer()).toBeUndefined();
        await expectImportedUnheard(productId, `quick-${productId}.jpg`);
        expect(served.filter((url) => url === path)).toEqual([path]);
      },
    );

    it('after the whole data URI, while the image is processed: one complete image', async () => {
      const productId = await newProduct();
      const request = jsonImport(productId, dataUri());
      const client = await start(request, request.body.length);
      await untilBodyRead(`/api/v1/products/${productId}/image`);
      client.destroy();
      expect(client.answer()).toBeUndefined();
      await expectOneCompleteImage(productId);
      expect(await answerTo(`/api/v1/products/${productId}/image`)).toEqual({ status: 200 });
    });

    // The data URI is read before the handler (a preParsing hook); the route's guards, pipes and
    // handler come after. Here they wait until the service has seen the connection close.
    it('after the whole data URI, before its handler starts: one complete image', async () => {
      const productId = await newProduct();
      const url = `/api/v1/products/${productId}/image`;
      holdUntilClientGone.add(url);
      const request = jsonImport(productId, dataUri());
      const client = await start(request, request.body.length);
      await untilBodyRead(url);
      client.destroy();
      await expectOneCompleteImage(productId);
      expect(await answerTo(url)).toEqual({ status: 200 });
    });
  });

  describe('of a bulk import (POST /imports)', () => {
    /** 5,000 rows of about 100 bytes: several batches are stored before the body ends. */
    function csv(productId: string): Buffer {
      const lines = ['product_id,url,title'];
      for (let i = 0; i < 5000; i++) {
        lines.push(`${productId},${imagesOrigin}/never-fetched-${i}.jpg,Row ${i}`);
      }
      return Buffer.from(`${lines.join('\n')}\n`);
    }

    function csvRequest(productId: string, form: boolean): RawRequest {
      const file = csv(productId);
      const { contentType, body } = form
        ? multipartCsv(file)
        : { contentType: 'text/csv', body: file };
      const head = requestHead(
        'POST',
        '/api/v1/imports',
        { 'content-type': contentType, authorization: `Bearer ${bearer}` },
        body.length,
      );
      return { head, body };
    }

    function multipartCsv(file: Buffer): { contentType: string; body: Buffer } {
      const boundary = 'csvboundary';
      const head = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\n` +
          'Content-Type: text/csv\r\n\r\n',
      );
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      return {
        contentType: `multipart/form-data; boundary=${boundary}`,
        body: Buffer.concat([head, file, tail]),
      };
    }

    const count = async (table: string) =>
      (await ds.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table}`))[0].n;

    // Every request here goes to the same URL: each test reads the answers of its own.
    beforeEach(() => (answers.length = 0));

    it.each<[string, Vanish, boolean]>([
      ['a text/csv body', 'destroyed', false],
      ['a text/csv body', 'half-closed', false],
      ['a multipart CSV file', 'destroyed', true],
      ['a multipart CSV file', 'half-closed', true],
    ])('in the middle of %s (%s): no import, no row, no job', async (_, how, form) => {
      const productId = await newProduct();
      const request = csvRequest(productId, form);
      const client = await start(request, Math.floor(request.body.length * 0.6));
      // Rows are stored in batches as they arrive: the import exists while its body does.
      await eventually(async () => (await count('import_rows')) > 0, 'rows to be stored');
      vanish(client, how);
      await client.closed;
      expectAnswerTo(how, client);
      await eventually(async () => (await count('imports')) === 0, 'the import to be dropped');
      expect(await count('import_rows')).toBe(0);
      const [{ n: jobs }] = await ds.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'bulk-import-rows'`,
      );
      expect(jobs).toBe(0);
      expect(served.filter((url) => url.startsWith('/never-fetched'))).toEqual([]);
      await expectNoImage(productId);
      expect(await answerTo('/api/v1/imports')).toEqual({ status: 400, code: 'invalid_csv' });
    });

    it('after the headers of a multipart CSV, before any body: no import, the handler ends', async () => {
      const productId = await newProduct();
      const client = await start(csvRequest(productId, true), 0);
      client.destroy();
      await client.closed;
      expect(await answerTo('/api/v1/imports')).toEqual({ status: 400, code: 'invalid_multipart' });
      expect(await count('imports')).toBe(0);
      expect(await count('import_rows')).toBe(0);
      await expectNoImage(productId);
    });
  });
});
