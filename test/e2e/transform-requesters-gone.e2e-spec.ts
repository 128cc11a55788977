import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { TransformResults } from '../../src/images/delivery/transform-results.service';
import type { StorageProvider } from '../../src/storage/storage-provider';
import { eventually } from '../support/eventually';
import { noisyPng } from '../support/fixtures';
import { call, login, uploadToNewProduct, type Credential } from '../support/http';
import { RawClient } from '../support/slow-client';
import { PUBLIC_BASE, startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { transformSignature } from '../support/transform-signature';

const KEY = 'requesters-gone-signing-key-0123456789abcdef';
const METRICS_TOKEN = 'requesters-gone-metrics-token-0123456789';

/**
 * The storage as it is, with each read of a stored original counted, and the first one held until
 * `release()`: the making that does it keeps the one read slot (TRANSFORM_READ_CONCURRENCY 1)
 * meanwhile.
 */
class HeldReads {
  reads = 0;
  private open!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));

  release(): void {
    this.open();
  }

  readonly wrap = <P extends StorageProvider>(provider: P): P => {
    const read = async (key: string) => {
      this.reads++;
      if (this.reads === 1) await this.gate;
      return provider.read!(key);
    };
    return new Proxy(provider, {
      get: (target, property) =>
        property === 'read' ? read : (Reflect.get(target, property, target) as unknown),
    });
  };
}

/**
 * First requests for new results whose clients then leave (a crawler, a page closed, an attacker
 * opening sockets and closing them): a result is costly to make (the original read back, decoded,
 * encoded, AVIF at 3840 pixels taking seconds), and a making whose requests have all gone is
 * dropped: waiting for its turn to read its original (or, read, for a processing slot), it leaves
 * the queue at once; reading, its read is aborted (transform-slow-reads.e2e-spec.ts). Made
 * anyway, 40 such
 * requests cost 46 s of CPU and 1 GB of memory, and up to IMAGE_PROCESSING_QUEUE_LIMIT (1000) of
 * them could wait per process, at no cost to whoever sent them.
 */
describe('Transform results whose requests have all gone', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let port: number;
  const held = new HeldReads();

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    t = await startTestApp(
      {
        ...backend.env,
        PUBLIC_BASE_URL: PUBLIC_BASE,
        DELIVERY_SIGNING_KEYS: KEY,
        IMAGE_PROCESSING_CONCURRENCY: '1',
        TRANSFORM_READ_CONCURRENCY: '1',
        METRICS_TOKEN,
      },
      { wrapStorage: held.wrap },
    );
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    held.release();
    await t?.close();
    await backend?.close();
  });

  /** A sample of the scraped metrics (0 when absent). */
  async function metric(name: string, labels = ''): Promise<number> {
    const res = await call(app, 'GET', '/metrics', { bearer: METRICS_TOKEN });
    const line = res.payload
      .split('\n')
      .find((l) => l.startsWith(`${name}${labels ? `{${labels}` : ' '}`));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  }

  const derived = () => backend.stored().filter((key) => key.startsWith('derived/'));

  it('drops them without reading the original, and makes those still asked for', async () => {
    const { id } = await uploadToNewProduct(
      app,
      admin,
      await noisyPng(400, 300),
      'Left behind',
      'image/png',
    );
    const url = (options: string) =>
      `/transform/${transformSignature(KEY, options, id)}/${options}/${id}`;
    const results = app.get(TransformResults);
    const made = results.made;

    // The one read slot taken: its making's read of the original is held.
    const first = call(app, 'GET', url('w_200,h_100,f_webp'));
    await eventually(() => held.reads === 1, 'the first making reading');

    // Five first requests for other new results, queued behind it, whose clients then leave.
    const gone = Array.from({ length: 5 }, (_, i) => `w_200,h_${110 + i},f_avif`);
    const clients = await Promise.all(gone.map(() => RawClient.connect(port)));
    await Promise.all(
      clients.map((client, i) =>
        client.write(`GET ${url(gone[i])} HTTP/1.1\r\nHost: localhost\r\n\r\n`),
      ),
    );
    await eventually(
      async () => (await metric('image_transform_reads_queued')) === gone.length,
      'the five makings queued',
    );
    for (const client of clients) client.socket.destroy();
    await Promise.all(clients.map((client) => client.closed));
    // The service has seen them go: each is counted as a request its client closed (499).
    await eventually(
      async () => (await closedRequests()) === gone.length,
      'the five requests seen closed',
    );

    // Their makings leave the queue then, not once they reach the slot: their places are free
    // for requests still waiting.
    await eventually(
      async () => (await metric('image_transform_reads_queued')) === 0,
      'the five makings out of the queue',
    );

    // One more, whose client stays.
    const stays = call(app, 'GET', url('w_200,h_150,f_webp'));
    await eventually(
      async () => (await metric('image_transform_reads_queued')) === 1,
      'the one staying queued',
    );

    held.release();
    expect((await first).statusCode).toBe(200);
    const answer = await stays;
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('image/webp');
    await eventually(
      async () =>
        (await metric('image_transform_reads_queued')) === 0 &&
        (await metric('image_transform_reads_active')) === 0 &&
        (await metric('image_processing_queue_depth')) === 0 &&
        (await metric('image_processing_active')) === 0,
      'the queue emptied',
    );

    // Two originals read, two results made and stored: none for the requests that went.
    expect(held.reads).toBe(2);
    expect(results.made - made).toBe(2);
    expect(derived()).toHaveLength(2);

    // A dropped making let go of its result's lease: asked for again, the result is made.
    const again = await call(app, 'GET', url(gone[0]));
    expect(again.statusCode).toBe(200);
    expect(again.headers['content-type']).toBe('image/avif');
    expect(derived()).toHaveLength(3);
  });

  /** Requests to the transform route counted as closed by their client (499). */
  async function closedRequests(): Promise<number> {
    const res = await call(app, 'GET', '/metrics', { bearer: METRICS_TOKEN });
    return res.payload
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('http_request_duration_seconds_count{') &&
          l.includes('status_code="499"') &&
          l.includes('transform'),
      )
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  }
});
