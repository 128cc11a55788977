import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { TransformResults } from '../../src/images/delivery/transform-results.service';
import { Metrics } from '../../src/metrics/metrics.service';
import {
  StorageError,
  type CallOptions,
  type ObjectStream,
  type StorageProvider,
} from '../../src/storage/storage-provider';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { noisyPng } from '../support/fixtures';
import { call, login, uploadToNewProduct, type Credential } from '../support/http';
import { metricValue } from '../support/metrics';
import { RawClient } from '../support/slow-client';
import { PUBLIC_BASE, startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { transformSignature } from '../support/transform-signature';

const KEY = 'slow-reads-signing-key-0123456789abcdef';

/**
 * How the next read of a stored original goes: `hold`, no answer until `release()` or its signal
 * aborts (S3, or a slow local or NFS disk, slow to answer, up to STORAGE_TIMEOUT_MS); `stall`, its first bytes,
 * then nothing until it is destroyed; `break`, its first bytes, then the connection fails.
 */
type ReadFault = 'hold' | 'stall' | 'break';

/** The storage as it is, but for the next read armed with a fault. */
class SlowReads {
  /** The reads held (`hold`) or stalled (`stall`) now. */
  waiting = 0;
  /** The signals of the reads that met a fault, in order. */
  readonly signals: (AbortSignal | undefined)[] = [];
  private next?: ReadFault;
  private release?: () => void;

  arm(fault: ReadFault): void {
    this.next = fault;
  }

  /** Lets the held read go on to the storage. */
  releaseHeld(): void {
    this.release?.();
  }

  readonly wrap = <P extends StorageProvider>(provider: P): P => {
    const read = async (key: string, options?: CallOptions) => {
      const fault = this.next;
      this.next = undefined;
      if (!fault) return provider.read!(key, options);
      this.signals.push(options?.signal);
      if (fault === 'hold') await this.held(options?.signal);
      const object = await provider.read!(key, options);
      return object && this.faulty(object, fault);
    };
    return new Proxy(provider, {
      get: (target, property) =>
        property === 'read' ? read : (Reflect.get(target, property, target) as unknown),
    });
  };

  private async held(signal: AbortSignal | undefined): Promise<void> {
    this.waiting++;
    try {
      await new Promise<void>((resolve, reject) => {
        this.release = resolve;
        signal?.addEventListener('abort', () => reject(new Error('read aborted')), {
          once: true,
        });
      });
    } finally {
      this.waiting--;
    }
  }

  /** The object's first chunk, then nothing (`stall`) or a broken connection (`break`). */
  private faulty(object: ObjectStream, fault: ReadFault): ObjectStream {
    if (fault === 'hold') return object;
    let sent = false;
    const stream = new Readable({
      read() {
        if (sent) return;
        sent = true;
        this.push(Buffer.alloc(64, 1));
        if (fault === 'break') {
          setImmediate(() => this.destroy(new StorageError('The connection broke mid-read')));
        }
      },
      destroy: (error, done) => {
        if (fault === 'stall') this.waiting--;
        object.stream.destroy();
        done(error);
      },
    });
    if (fault === 'stall') this.waiting++;
    return { ...object, stream };
  }
}

/**
 * A transform URL's result is made from its stored original, read back from the storage into the
 * spool. The read holds no processing slot (there are about as many as cores): read in its slot,
 * a few originals slow to come from S3 (or a slow disk) left the CPU idle and every upload and other
 * transform refused or waiting. The reads have a bound of their own (TRANSFORM_READ_CONCURRENCY),
 * and a read whose requests have all gone is aborted, its spooled copy removed.
 */
describe('Transform results whose originals are slow to read', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let port: number;
  const reads = new SlowReads();

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    t = await startTestApp(
      {
        ...backend.env,
        PUBLIC_BASE_URL: PUBLIC_BASE,
        DELIVERY_SIGNING_KEYS: KEY,
        // One slot and no queue: work finding the slot taken is refused at once.
        IMAGE_PROCESSING_CONCURRENCY: '1',
        IMAGE_PROCESSING_QUEUE_LIMIT: '0',
      },
      { wrapStorage: reads.wrap },
    );
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    reads.releaseHeld();
    await t?.close();
    await backend?.close();
  });

  const spooled = () => filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'));
  const url = (options: string, id: string) =>
    `/transform/${transformSignature(KEY, options, id)}/${options}/${id}`;
  const gauge = async (name: string) => metricValue(await app.get(Metrics).scrape(), name, {});
  const upload = async (name: string) =>
    (await uploadToNewProduct(app, admin, await noisyPng(300, 200), name, 'image/png')).id;

  it('processes uploads and transforms of other images while an original is being read', async () => {
    const slow = await upload('Slow');
    const other = await upload('Other');
    reads.arm('hold');
    const waiting = call(app, 'GET', url('w_200,h_100,f_webp', slow));
    await eventually(() => reads.waiting === 1, 'the read held');

    // An upload and a transform of another image are processed meanwhile; two requests for one
    // result still share its making.
    await expect(upload('Meanwhile')).resolves.toBeTruthy();
    expect(await gauge('image_transform_reads_active')).toBe(1);
    expect(await gauge('image_processing_active')).toBe(0);
    const results = app.get(TransformResults);
    const made = results.made;
    const answers = await Promise.all([
      call(app, 'GET', url('w_120,h_80,f_webp', other)),
      call(app, 'GET', url('w_120,h_80,f_webp', other)),
    ]);
    expect(answers.map((res) => res.statusCode)).toEqual([200, 200]);
    expect(results.made - made).toBe(1);

    reads.releaseHeld();
    const answer = await waiting;
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('image/webp');
    expect(spooled()).toEqual([]);
  });

  it('aborts the read of a result whose clients have all gone, before or during its bytes', async () => {
    const id = await upload('Left');
    for (const [fault, options] of [
      ['hold', 'w_200,h_110,f_webp'],
      ['stall', 'w_200,h_120,f_webp'],
    ] as const) {
      reads.arm(fault);
      const client = await RawClient.connect(port);
      await client.write(`GET ${url(options, id)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      await eventually(() => reads.waiting === 1, `the ${fault} read under way`);
      // Stalled mid-read, part of the original is in the spool (its folder and file made after
      // the read began: waited for, not looked for at once).
      if (fault === 'stall') await eventually(() => spooled().length === 1, 'partly spooled');
      client.socket.destroy();
      await client.closed;
      await eventually(() => reads.waiting === 0, `the ${fault} read ended`);
      expect(reads.signals.at(-1)?.aborted).toBe(true);
      await eventually(async () => (await gauge('image_transform_reads_active')) === 0, 'freed');
      expect(spooled()).toEqual([]);
      // Asked for again, the result is made.
      const again = await call(app, 'GET', url(options, id));
      expect(again.statusCode).toBe(200);
    }
  });

  it('answers 502 for a read that fails mid-way, leaving no spooled copy', async () => {
    const id = await upload('Broken');
    reads.arm('break');
    const res = await call(app, 'GET', url('w_200,h_130,f_webp', id));
    expect(res.statusCode).toBe(502);
    expect(res.json<{ code: string }>().code).toBe('storage_unavailable');
    expect(spooled()).toEqual([]);
    expect(await gauge('image_transform_reads_active')).toBe(0);
    expect(await gauge('image_processing_active')).toBe(0);
  });
});
