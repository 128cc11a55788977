import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metrics } from '../../metrics/metrics.service';
import { spoolStoredOriginal } from '../../images/stored-original';
import { deadlineStorage } from './deadline.storage-provider';
import { measuredStorage } from './measured.storage-provider';
import type { CallTurns } from './s3-calls';
import { s3ProviderAt } from '../../../test/support/s3-provider';

const KEY = 'uploads/7c9e6679-7425-40de-944b-e07fc1f90ae7/original.png';
/** Far past what the tests wait: an abort seen before it is the caller's, not the deadline's. */
const DEADLINE_MS = 20_000;

/**
 * An S3 whose GetObject is held open: `headers` false, no answer at all (a store that hangs);
 * true, its headers and a few bytes of a 1 MB body, then nothing more (a body that stalls).
 * `sockets`: its open connections, closed ones removed.
 */
async function holdingS3(headers: () => boolean): Promise<{
  server: Server;
  endpoint: string;
  sockets: Set<Socket>;
  gets: () => number;
}> {
  const sockets = new Set<Socket>();
  let gets = 0;
  const server = createServer((request, response) => {
    if (request.method !== 'GET') return void response.writeHead(404).end();
    gets++;
    if (!headers()) return;
    response.writeHead(200, {
      'Content-Type': 'image/png',
      'Content-Length': String(1024 * 1024),
      ETag: '"e"',
      'Last-Modified': new Date(0).toUTCString(),
    });
    response.write(Buffer.alloc(1024));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, endpoint, sockets, gets: () => gets };
}

/** Waits (up to 2 s) for `sockets` to be empty: the connection's end as the storage sees it. */
async function closed(sockets: Set<Socket>): Promise<number> {
  for (let waited = 0; sockets.size > 0 && waited < 2000; waited += 20) await sleep(20);
  return sockets.size;
}

/** The series of the storage metrics for S3 reads, from the scrape's text. */
async function readSeries(metrics: Metrics): Promise<string[]> {
  const text = await metrics.scrape();
  return text
    .split('\n')
    .filter(
      (line) =>
        (line.startsWith('storage_operation_duration_seconds_count') ||
          line.startsWith('storage_operation_errors_total')) &&
        line.includes('operation="read"'),
    );
}

/**
 * A transform's read of its original, on S3 behind the deadline and the metrics as the
 * application wraps it (storage.module.ts), ended by its making's signal (every request for the
 * result gone): the abort must reach the S3 request, which closes its connection at once rather
 * than at STORAGE_TIMEOUT_MS, and the read is counted `aborted`, not as the storage failing.
 */
describe('An S3 read behind the deadline, aborted by its caller', () => {
  let root: string;
  beforeEach(async () => (root = await mkdtemp(join(tmpdir(), 'pis-caller-abort-'))));
  afterEach(() => rm(root, { recursive: true, force: true }));

  it("ends a GetObject with no answer yet at the caller's abort: its connection closed, counted aborted", async () => {
    const s3 = await holdingS3(() => false);
    const provider = s3ProviderAt(s3.endpoint, { timeoutMs: DEADLINE_MS });
    const turns = (provider as unknown as { turns: CallTurns }).turns;
    const metrics = new Metrics();
    const storage = measuredStorage(deadlineStorage(provider, DEADLINE_MS), metrics);
    try {
      const making = new AbortController();
      const config = { DATA_DIR: join(root, 'data') };
      // As a making reads its original (TransformResults, through ImageProcessor.transformRead).
      const reading = spoolStoredOriginal(storage, KEY, config, 'transform', making.signal).catch(
        (error: unknown) => error,
      );
      while (s3.gets() === 0) await sleep(10);
      expect(s3.sockets.size).toBe(1);

      const started = Date.now();
      const gone = new Error('every request for the result has gone');
      making.abort(gone);
      // Not left to the deadline (nor the SDK's own timeouts): ended at once.
      const outcome = await Promise.race([reading, sleep(2000, 'still reading')]);
      // Its making's reason, not a deadline passed (StorageTimeoutError) or the storage failing.
      expect(outcome).toBe(gone);
      expect(Date.now() - started).toBeLessThan(1000);
      // The S3 request ended: its connection closed, its turn given back.
      expect(await closed(s3.sockets)).toBe(0);
      expect(turns.active).toBe(0);
      expect(await readSeries(metrics)).toEqual([
        'storage_operation_duration_seconds_count{provider="s3",operation="read",outcome="aborted"} 1',
      ]);
    } finally {
      provider.close();
      s3.server.closeAllConnections();
      await new Promise((resolve) => s3.server.close(resolve));
    }
  });

  it("ends a stalled body being spooled at the making's abort: its connection closed, nothing left in the spool", async () => {
    const s3 = await holdingS3(() => true);
    const provider = s3ProviderAt(s3.endpoint, { timeoutMs: DEADLINE_MS });
    const metrics = new Metrics();
    const storage = measuredStorage(deadlineStorage(provider, DEADLINE_MS), metrics);
    const config = { DATA_DIR: join(root, 'data') };
    const spool = join(root, 'data', 'tmp', 'uploads');
    try {
      const making = new AbortController();
      const spooling = spoolStoredOriginal(storage, KEY, config, 'transform', making.signal).catch(
        (error: unknown) => error,
      );
      // The answer came (its headers), its body stalled: the file is being written.
      while (!(existsSync(spool) && readdirSync(spool).length > 0)) await sleep(10);

      const gone = new Error('every request for the result has gone');
      making.abort(gone);
      expect(await spooling).toBe(gone);
      expect(await closed(s3.sockets)).toBe(0);
      expect(readdirSync(spool)).toEqual([]);
      // The read itself was answered: its bytes' end is the spool's business, not an error.
      expect(await readSeries(metrics)).toEqual([
        'storage_operation_duration_seconds_count{provider="s3",operation="read",outcome="ok"} 1',
      ]);
    } finally {
      provider.close();
      s3.server.closeAllConnections();
      await new Promise((resolve) => s3.server.close(resolve));
    }
  });
});
