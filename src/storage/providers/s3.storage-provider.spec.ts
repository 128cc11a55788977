import { createHook } from 'node:async_hooks';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { AppError } from '../../common/errors/app.error';
import { StorageError } from '../storage-provider';
import { deadlineStorage, StorageTimeoutError } from './deadline.storage-provider';
import { AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import type { CallTurns } from './s3-calls';
import { S3StorageProvider } from './s3.storage-provider';
import { s3ProviderAt as providerAt } from '../../../test/support/s3-provider';

/** Starts `server` on a free loopback port, its connections kept in `sockets`; its URL. */
async function listenTracked(server: Server, sockets = new Set<Socket>()): Promise<string> {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes `server`, its open connections first (a hanging S3's included). */
async function closeNow(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/**
 * A healthy but slow S3 (each object HEAD answered 404 after 200 ms) and a burst larger than the
 * client's pool of 50 sockets: the burst is the service's own load, so no call may fail as the storage down.
 */
describe('S3StorageProvider under a burst larger than its pool', () => {
  let server: Server;
  let endpoint: string;
  const calls = { headObject: 0, headBucket: 0 };

  beforeAll(async () => {
    server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://s3').pathname;
      if (path === '/bucket' || path === '/bucket/') {
        calls.headBucket++;
        setTimeout(() => response.writeHead(200).end(), 200);
        return;
      }
      calls.headObject++;
      setTimeout(() => response.writeHead(404).end(), 200);
    });
    endpoint = await listenTracked(server);
  });

  afterAll(() => closeNow(server));

  it('answers a miss as a miss or busy (503), never a storage failure, and asks the bucket once', async () => {
    const provider = providerAt(endpoint);
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) => provider.exists(`derived/${i}.webp`)),
      );
      const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
      expect(failures.filter((e) => e instanceof StorageError)).toEqual([]);
      for (const error of failures) {
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({ code: 'server_busy', headers: { 'Retry-After': '5' } });
      }
      const misses = outcomes.filter((o) => o.status === 'fulfilled' && o.value === false);
      expect(misses.length).toBeGreaterThanOrEqual(50);
      expect(calls.headBucket).toBeLessThanOrEqual(2);
    } finally {
      provider.close();
    }
  });
});

/**
 * An S3 that accepts requests and never answers them (an outage where calls hang), behind
 * STORAGE_TIMEOUT_MS: a call given up at its deadline must give its turn back and its request
 * must end, or the turns fill with calls no one waits for, later calls are refused as our pool
 * full (503 server_busy) where the storage is down (502), and the turns stay taken after S3
 * recovers, until the SDK's own timeouts and retries end (three times its request timeout).
 */
describe('S3StorageProvider behind its deadline, on an S3 that hangs', () => {
  let server: Server;
  let endpoint: string;
  let hanging = true;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (hanging) return;
      const path = new URL(request.url ?? '/', 'http://s3').pathname;
      response.writeHead(path === '/bucket' || path === '/bucket/' ? 200 : 404).end();
    });
    endpoint = await listenTracked(server, sockets);
  });

  afterAll(() => closeNow(server));

  it('gives a call given up at its deadline its turn back at once, and ends its request', async () => {
    // A turn is waited for 1 s (the SDK's connection timeout, at most STORAGE_TIMEOUT_MS), less
    // than the deadline, as with the defaults (5 s and 30 s); the SDK alone holds a call 3 s.
    const provider = providerAt(endpoint, { maxSockets: 2 });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    const storage = deadlineStorage(provider, 1500);
    try {
      const given = await Promise.allSettled([
        storage.exists('derived/a.webp'),
        storage.delete('derived/b.webp'),
        storage.check(),
      ]);
      for (const outcome of given) {
        expect(outcome).toMatchObject({ reason: expect.any(StorageTimeoutError) });
      }
      expect(turns.active).toBe(0);
      // Aborted, not left to the SDK: the connections of those requests are closed.
      for (let waited = 0; sockets.size > 0 && waited < 1000; waited += 20) await sleep(20);
      expect(sockets.size).toBe(0);

      // Still down: the storage's failure, not our pool full.
      const next = await storage.exists('derived/c.webp').catch((error: unknown) => error);
      expect(next).toBeInstanceOf(StorageTimeoutError);
      expect(turns.active).toBe(0);

      // A listing's page that hangs fails the listing at the deadline, and is aborted too.
      const started = Date.now();
      const listed = await (async () => {
        for await (const object of storage.list('derived/')) void object;
      })().catch((error: unknown) => error);
      expect(listed).toBeInstanceOf(StorageTimeoutError);
      expect(Date.now() - started).toBeLessThan(2500);
      expect(turns.active).toBe(0);
      for (let waited = 0; sockets.size > 0 && waited < 1000; waited += 20) await sleep(20);
      expect(sockets.size).toBe(0);

      // Recovered: answered at once.
      hanging = false;
      await expect(storage.exists('derived/d.webp')).resolves.toBe(false);
      expect(turns.active).toBe(0);
    } finally {
      provider.close();
    }
  });
});

describe('S3StorageProvider failing a call given up at its deadline while it waits for its turn', () => {
  it('names S3 and the action, the deadline its cause', async () => {
    // No request is sent: the call never has its turn.
    const provider = providerAt('http://127.0.0.1:9', { maxSockets: 1 });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    const held = await turns.take();
    try {
      const deadline = new AbortController();
      const checking = provider
        .exists('derived/a.webp', { signal: deadline.signal })
        .catch((error: unknown) => error);
      const timeout = new StorageTimeoutError('s3', 'checking derived/a.webp', 1000);
      deadline.abort(timeout);
      const failure = await checking;
      expect(failure).toBeInstanceOf(StorageError);
      expect((failure as Error).message).toBe(
        'S3 (http://127.0.0.1:9) failed checking derived/a.webp: Storage (s3) did not finish ' +
          'checking derived/a.webp within STORAGE_TIMEOUT_MS (1000 ms)',
      );
      expect((failure as Error).cause).toBe(timeout);
      expect(turns.queued).toBe(0);
    } finally {
      held();
      provider.close();
    }
  });
});

/**
 * An S3 that answers every object HEAD 404 at once, and the bucket's HeadBucket after `bucketMs`
 * (never, when null): the HeadBucket that misses at once share (noSuchObject) is their own call,
 * no caller's, so it has a deadline of its own.
 */
describe('S3StorageProvider asking whether its bucket exists after a miss', () => {
  let server: Server;
  let endpoint: string;
  let bucketMs: number | null = null;
  let headBuckets = 0;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://s3').pathname;
      if (path !== '/bucket' && path !== '/bucket/') return void response.writeHead(404).end();
      headBuckets++;
      if (bucketMs !== null) setTimeout(() => response.writeHead(200).end(), bucketMs);
    });
    endpoint = await listenTracked(server, sockets);
  });

  afterAll(() => closeNow(server));

  it('ends a HeadBucket that hangs at STORAGE_TIMEOUT_MS, its turn and connection with it', async () => {
    bucketMs = null;
    const provider = providerAt(endpoint);
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    // A caller's deadline well past the provider's: the SDK alone (three attempts of 1 s) would
    // hold the HeadBucket, and its turn, past it.
    const storage = deadlineStorage(provider, 4000);
    try {
      const started = Date.now();
      const outcome = await storage.exists('derived/a.webp').catch((error: unknown) => error);
      expect(Date.now() - started).toBeLessThan(2500);
      // Whether the object or the bucket is missing is not known: the storage failed.
      expect(outcome).toBeInstanceOf(StorageError);
      expect(outcome).not.toBeInstanceOf(StorageTimeoutError);
      expect(turns.active).toBe(0);
      for (let waited = 0; sockets.size > 0 && waited < 1000; waited += 20) await sleep(20);
      expect(sockets.size).toBe(0);
    } finally {
      provider.close();
    }
  });

  it('says that the bucket check timed out, not only that the object was not found', async () => {
    bucketMs = null;
    const provider = providerAt(endpoint);
    try {
      const exists = await provider.exists('derived/a.webp').catch((error: unknown) => error);
      const read = await provider.read('originals/a.png').catch((error: unknown) => error);
      for (const [failure, action] of [
        [exists, 'checking derived/a.webp'],
        [read, 'reading originals/a.png'],
      ] as const) {
        expect(failure).toBeInstanceOf(StorageError);
        expect((failure as Error).message).toContain(`failed ${action}: `);
        expect((failure as Error).message).toMatch(
          /bucket check \(HeadBucket\) timed out after 1000 ms$/,
        );
      }
    } finally {
      provider.close();
    }
  });

  it("lets no caller's abort end the HeadBucket the others share", async () => {
    bucketMs = 300;
    headBuckets = 0;
    const provider = providerAt(endpoint);
    try {
      const leaving = new AbortController();
      const left = provider.exists('derived/a.webp', { signal: leaving.signal });
      const staying = provider.exists('derived/b.webp');
      setTimeout(() => leaving.abort(new Error('gone')), 100);
      await expect(staying).resolves.toBe(false);
      await left.catch(() => undefined);
      expect(headBuckets).toBe(1);
    } finally {
      provider.close();
    }
  });

  it("clears the HeadBucket's own timer once it is answered", async () => {
    bucketMs = 0;
    const provider = providerAt(endpoint, { timeoutMs: TIMER_MS });
    const timers = timersOf(TIMER_MS);
    try {
      await expect(provider.exists('derived/a.webp')).resolves.toBe(false);
      expect(await timers.left()).toBe(0);
    } finally {
      timers.stop();
      provider.close();
    }
  });
});

/**
 * An S3 that takes multipart uploads (objects over a part, 8 MB), each part answered after
 * `partMs` (never, when null): an upload's requests are calls on the client like any other, so
 * they take turns (the pool of 50), and its abort ends them.
 */
describe('S3StorageProvider uploading in parts', () => {
  let server: Server;
  let endpoint: string;
  let partMs: number | null = 100;
  /** How parts and aborts (AbortMultipartUpload) are answered. */
  let partStatus = 200;
  let abortStatus = 204;
  /** Object HEADs (other calls, holding turns) are answered 200 after this. */
  let headMs = 0;
  /** Run as a request comes in, before it is answered (`part` counts the part requests). */
  let onRequest: (kind: 'create' | 'part', part: number) => void = () => undefined;
  let parts = 0;
  const seen = { inFlight: 0, most: 0, aborted: 0, completed: 0 };
  const sockets = new Set<Socket>();
  /** Two parts: 8 MB and 1 MB. */
  const body = Buffer.alloc(9 * 1024 * 1024, 1);

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.inFlight++;
      seen.most = Math.max(seen.most, seen.inFlight);
      let done = false;
      const finish = () => {
        if (!done) seen.inFlight--;
        done = true;
      };
      response.on('close', finish);
      const url = new URL(request.url ?? '/', 'http://s3');
      const answer = (status: number, xml = '', headers: Record<string, string> = {}) =>
        response.writeHead(status, { 'content-type': 'application/xml', ...headers }).end(xml);
      request.resume();
      request.on('end', () => {
        if (request.method === 'HEAD') return void setTimeout(() => answer(200), headMs);
        if (request.method === 'POST' && url.searchParams.has('uploads')) {
          onRequest('create', parts);
          return answer(
            200,
            '<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key>' +
              '<UploadId>u1</UploadId></InitiateMultipartUploadResult>',
          );
        }
        if (request.method === 'PUT' && url.searchParams.has('partNumber')) {
          onRequest('part', ++parts);
          if (partStatus !== 200) return answer(partStatus, s3Error('InvalidPart'));
          if (partMs === null) return;
          const etag = `"p${url.searchParams.get('partNumber')}"`;
          return void setTimeout(() => answer(200, '', { etag }), partMs);
        }
        if (request.method === 'POST' && url.searchParams.has('uploadId')) {
          seen.completed++;
          return answer(
            200,
            '<CompleteMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key>' +
              '<ETag>"x-2"</ETag></CompleteMultipartUploadResult>',
          );
        }
        if (request.method === 'DELETE' && url.searchParams.has('uploadId')) {
          seen.aborted++;
          return answer(abortStatus, abortStatus === 204 ? '' : s3Error('AccessDenied'));
        }
        answer(400);
      });
    });
    endpoint = await listenTracked(server, sockets);
  });

  afterAll(() => closeNow(server));

  beforeEach(() => {
    Object.assign(seen, { most: 0, aborted: 0, completed: 0 });
    [partMs, partStatus, abortStatus, headMs, parts] = [100, 200, 204, 0, 0];
    onRequest = () => undefined;
  });

  it('sends no more requests at once than it has turns, whatever the uploads at once', async () => {
    partMs = 100;
    Object.assign(seen, { most: 0, completed: 0 });
    const provider = providerAt(endpoint, { maxSockets: 2, timeoutMs: 5000 });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    try {
      let mostTurns = 0;
      const watch = setInterval(() => (mostTurns = Math.max(mostTurns, turns.active)), 5);
      const stored = await Promise.all(
        [1, 2, 3, 4].map((i) =>
          provider.put(`originals/${i}.png`, body, { contentType: 'image/png', cacheControl: 'x' }),
        ),
      );
      clearInterval(watch);
      expect(stored.map((object) => object.size)).toEqual(Array(4).fill(body.length));
      expect(seen.completed).toBe(4);
      expect(seen.most).toBeLessThanOrEqual(2);
      // Counted in the turns, as every call is.
      expect(mostTurns).toBe(2);
      expect(turns.active).toBe(0);
    } finally {
      provider.close();
    }
  });

  it('ends an upload given up at its deadline: its requests, its queued turns, then its parts', async () => {
    partMs = null;
    Object.assign(seen, { aborted: 0, completed: 0 });
    // The SDK alone would hold each part 5 s, three times.
    const provider = providerAt(endpoint, { maxSockets: 2, timeoutMs: 5000 });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    const storage = deadlineStorage(provider, 1000);
    try {
      const options = { contentType: 'image/png', cacheControl: 'x' };
      const given = await Promise.allSettled([
        storage.put('originals/a.png', body, options),
        storage.put('originals/b.png', body, options),
      ]);
      for (const outcome of given) {
        expect(outcome).toMatchObject({ reason: expect.any(StorageTimeoutError) });
      }
      // Each upload begun was aborted (its parts removed) before the write answered.
      expect(seen.aborted).toBe(2);
      expect(seen.completed).toBe(0);
      expect(turns.active).toBe(0);
      expect(turns.queued).toBe(0);
      for (let waited = 0; seen.inFlight > 0 && waited < 1000; waited += 20) await sleep(20);
      expect(seen.inFlight).toBe(0);
    } finally {
      provider.close();
    }
  });

  it("fails with its part's error, not that of the abort of its upload, which is logged", async () => {
    partStatus = 400;
    abortStatus = 403;
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const provider = providerAt(endpoint, { maxSockets: 2, timeoutMs: 5000 });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    try {
      const failure = await provider
        .put('originals/a.png', body, { contentType: 'image/png', cacheControl: 'x' })
        .catch((error: unknown) => error);
      // The part refused (a 502), not a bucket policy without s3:AbortMultipartUpload (a 403).
      expect(failure).toBeInstanceOf(StorageError);
      expect((failure as Error).message).toMatch(
        /writing originals\/a\.png: InvalidPart, HTTP 400/,
      );
      expect(seen.aborted).toBe(1);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/originals\/a\.png.*AccessDenied/));
      expect(turns.active).toBe(0);
    } finally {
      warn.mockRestore();
      provider.close();
    }
  });

  it('aborts a failed upload at the first turn given back, never refused as busy', async () => {
    partStatus = 400;
    // Two calls of 1.4 s come as the upload's last part is sent: the abort that follows would
    // wait for both, past the 2.4 s a call waits for a turn. Served first, it waits for the first
    // only, 1 s within its own deadline (it had 0.1 s with calls of 0.9 s and a deadline of 1 s,
    // and was given up under a load average of 16).
    headMs = 1400;
    const provider = providerAt(endpoint, { maxSockets: 1, timeoutMs: 2400 });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    let others: Promise<PromiseSettledResult<boolean>[]> = Promise.resolve([]);
    onRequest = (kind, part) => {
      if (part === 2 && kind === 'part') {
        others = Promise.allSettled([
          provider.exists('derived/a.webp'),
          provider.exists('derived/b.webp'),
        ]);
      }
    };
    try {
      const failure = await provider
        .put('originals/a.png', body, { contentType: 'image/png', cacheControl: 'x' })
        .catch((error: unknown) => error);
      expect((failure as Error).message).toMatch(/InvalidPart, HTTP 400/);
      expect(seen.aborted).toBe(1);
      // The first call waited for the part and the abort only. The second waited for the first's
      // 1.4 s too, closer to its 2.4 s: on a loaded machine it may be refused as busy, as any call
      // waiting past its deadline is (it failed this test once so).
      const [first, second] = await others;
      expect(first).toEqual({ status: 'fulfilled', value: true });
      if (second.status === 'rejected') {
        expect(second.reason).toMatchObject({ code: 'server_busy' });
      } else expect(second.value).toBe(true);
      expect(turns.active).toBe(0);
    } finally {
      provider.close();
    }
  });

  it('lets the requests of an upload under way wait for their turns past the wait of a call', async () => {
    partMs = 0;
    // Two calls of 900 ms come as the upload is created: its parts wait for both, past the 1 s
    // a call waits for a turn, within the write's deadline.
    headMs = 900;
    const provider = providerAt(endpoint, { maxSockets: 1, timeoutMs: 1000 });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    const storage = deadlineStorage(provider, 5000);
    let others: Promise<unknown> = Promise.resolve();
    onRequest = (kind) => {
      if (kind === 'create') {
        others = Promise.all([storage.exists('derived/a.webp'), storage.exists('derived/b.webp')]);
      }
    };
    try {
      const stored = await storage.put('originals/a.png', body, {
        contentType: 'image/png',
        cacheControl: 'x',
      });
      expect(stored.size).toBe(body.length);
      expect(seen.completed).toBe(1);
      await expect(others).resolves.toEqual([true, true]);
      expect(turns.active).toBe(0);
    } finally {
      provider.close();
    }
  });

  it('clears the own timer of the abort of a failed upload once it is answered', async () => {
    partStatus = 400;
    const provider = providerAt(endpoint, { maxSockets: 2, timeoutMs: TIMER_MS });
    const timers = timersOf(TIMER_MS);
    try {
      const options = { contentType: 'image/png', cacheControl: 'x' };
      await expect(provider.put('originals/a.png', body, options)).rejects.toThrow(/InvalidPart/);
      expect(seen.aborted).toBe(1);
      expect(await timers.left()).toBe(0);
    } finally {
      timers.stop();
      provider.close();
    }
  });

  /**
   * What lib-storage's Upload asks of the client it is given (inTurns): a later lib-storage that
   * passes `send` options (an abortSignal), reads other members of the client, or sends commands
   * of another copy of the SDK (`instanceof AbortMultipartUploadCommand` then fails) would slip
   * past the turns and the abort without a sign: this says so.
   */
  it("gives lib-storage's Upload a client it uses only as inTurns expects", async () => {
    const recorded = { reads: new Set<string>(), sends: [] as unknown[][] };
    type WithTurns = { inTurns: (signal?: AbortSignal) => object };
    const prototype = S3StorageProvider.prototype as unknown as WithTurns;
    const inTurns = prototype.inTurns;
    const spy = jest.spyOn(prototype, 'inTurns').mockImplementation(function (
      this: WithTurns,
      signal,
    ) {
      return recording(inTurns.call(this, signal), recorded);
    });
    const provider = providerAt(endpoint, { maxSockets: 2, timeoutMs: 5000 });
    const options = { contentType: 'image/png', cacheControl: 'x' };
    try {
      await provider.put('originals/a.png', body, options);
      partStatus = 400;
      await provider.put('originals/b.png', body, options).catch(() => undefined);
      expect(recorded.sends.every((args) => args.length === 1)).toBe(true);
      const commands = recorded.sends.map(([command]) => command as object);
      const names = commands.map((command) => command.constructor.name).join(' ');
      // The failed upload's second part may or may not have been sent before the first failed.
      expect(names).toMatch(
        /^CreateMultipartUploadCommand (UploadPartCommand ){2}CompleteMultipartUploadCommand CreateMultipartUploadCommand (UploadPartCommand ){1,2}AbortMultipartUploadCommand$/,
      );
      expect(commands.at(-1)).toBeInstanceOf(AbortMultipartUploadCommand);
      expect([...recorded.reads].sort()).toEqual(['config']);
      expect(seen.aborted).toBe(1);
    } finally {
      spy.mockRestore();
      provider.close();
    }
  });
});

/**
 * An S3 whose multipart uploads fail (each part refused 400), that answers an object HEAD after
 * 800 ms, and never answers the DELETE that aborts an upload (AbortMultipartUpload): the clean-up
 * is given up at its own STORAGE_TIMEOUT_MS, its wait for its turn included, and the write
 * answers then.
 */
describe('S3StorageProvider cleaning up a failed upload, on an S3 that hangs on the DELETE', () => {
  let server: Server;
  let endpoint: string;
  let deletes = 0;
  /** How long an object HEAD waits for its answer: under the calls' STORAGE_TIMEOUT_MS. */
  const HEAD_MS = 800;
  /** Run as the second part's request comes in. */
  let onSecondPart = () => undefined as unknown;
  const sockets = new Set<Socket>();
  const body = Buffer.alloc(9 * 1024 * 1024, 1);

  beforeAll(async () => {
    server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://s3');
      request.resume();
      request.on('end', () => {
        const answer = (status: number, xml = '') =>
          response.writeHead(status, { 'content-type': 'application/xml' }).end(xml);
        if (request.method === 'POST' && url.searchParams.has('uploads')) {
          return answer(
            200,
            '<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key>' +
              '<UploadId>u1</UploadId></InitiateMultipartUploadResult>',
          );
        }
        if (request.method === 'PUT') {
          if (url.searchParams.get('partNumber') === '2') onSecondPart();
          return answer(400, s3Error('InvalidPart'));
        }
        if (request.method === 'HEAD') return void setTimeout(() => answer(200), HEAD_MS);
        if (request.method === 'DELETE') return void deletes++;
        answer(400);
      });
    });
    endpoint = await listenTracked(server, sockets);
  });

  afterAll(() => closeNow(server));

  it('ends the clean-up at its own STORAGE_TIMEOUT_MS, its wait for its turn included', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    // One turn, which a call of 800 ms takes as the upload's last part fails: its clean-up
    // waits for it, then S3 never answers its DELETE.
    const timeoutMs = 1000;
    const provider = providerAt(endpoint, { maxSockets: 1, timeoutMs });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    let other: Promise<boolean> = Promise.resolve(false);
    let headAsked = Number.NaN;
    onSecondPart = () => {
      headAsked = Date.now();
      other = provider.exists('derived/a.webp');
    };
    try {
      const failure = await provider
        .put('originals/a.png', body, { contentType: 'image/png', cacheControl: 'x' })
        .catch((error: unknown) => error);
      const took = Date.now() - headAsked;
      expect((failure as Error).message).toMatch(/InvalidPart, HTTP 400/);
      await expect(other).resolves.toBe(true);
      expect(deletes).toBe(1);
      // Its STORAGE_TIMEOUT_MS counted from when it was sent for its turn (just after the HEAD
      // was asked), not from its turn. Counted from its turn, after the HEAD's answer, the write
      // settles no sooner than HEAD_MS + timeoutMs after the HEAD's asking (1.82 s measured; less
      // 50 ms: a timer may fire early by what the loop's turn that set it had run). So counted,
      // at about timeoutMs, leaving most of HEAD_MS (0.8 s) for a loaded machine.
      expect(took).toBeLessThan(HEAD_MS + timeoutMs - 50);
      expect(warn).toHaveBeenCalledWith(
        expect.stringMatching(/aborting the multipart upload of originals\/a\.png: TimeoutError/),
      );
      expect([turns.active, turns.queued]).toEqual([0, 0]);
      // The DELETE left hanging was aborted: its connection is closed.
      for (let waited = 0; sockets.size > 0 && waited < 1000; waited += 20) await sleep(20);
      expect(sockets.size).toBe(0);
    } finally {
      warn.mockRestore();
      provider.close();
    }
  });
});

/** `client`, each member read and each `send`'s arguments recorded. */
function recording<T extends object>(
  client: T,
  recorded: { reads: Set<string>; sends: unknown[][] },
): T {
  return new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (property !== 'send') {
        recorded.reads.add(String(property));
        return value;
      }
      return (...args: unknown[]) => {
        recorded.sends.push(args);
        return (value as (...given: unknown[]) => unknown)(...args);
      };
    },
  });
}

/** An S3 error answer. */
function s3Error(code: string): string {
  return `<Error><Code>${code}</Code><Message>${code}</Message></Error>`;
}

/** A STORAGE_TIMEOUT_MS that no other timer of these tests has, so that its timers can be told. */
const TIMER_MS = 4321;

/**
 * The timers of `ms` made from now on (async_hooks sees every Timeout, unref'd ones and those
 * behind AbortSignal.timeout included); `left`: how many are still running.
 */
function timersOf(ms: number): { left: () => Promise<number>; stop: () => void } {
  const running = new Set<number>();
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (type === 'Timeout' && (resource as { _idleTimeout?: number })._idleTimeout === ms) {
        running.add(id);
      }
    },
    destroy: (id) => running.delete(id),
  }).enable();
  return {
    // A timer cleared is destroyed on a later turn of the event loop.
    left: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      return running.size;
    },
    stop: () => hook.disable(),
  };
}
