import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metrics } from '../../src/metrics/metrics.service';
import { measuredStorage } from '../../src/storage/providers/measured.storage-provider';
import type { CallTurns } from '../../src/storage/providers/s3-calls';
import type { S3StorageProvider } from '../../src/storage/providers/s3.storage-provider';
import { StorageError } from '../../src/storage/storage-provider';
import { s3ProviderAt } from '../support/s3-provider';
import {
  S3RVER_CREDENTIALS,
  startFaultyProxy,
  startS3rver,
  type FaultyProxy,
  type RunningS3rver,
} from '../support/storage-backends';

const BUCKET = 'product-images';
const KEY = 'derived/42/320x240-fit-q80.webp';

/**
 * An S3 read (the provider itself, no deadline in front) whose caller aborts its signal: while
 * S3 has not answered, or while it waits for its turn on the connections. Its caller gave up: the
 * read rejects with the signal's reason, as the queue's and the deadline's aborts do, never a
 * StorageError (logged and answered as the storage failing), and is counted `aborted`.
 */
describe('An S3 read aborted by its caller', () => {
  let dir: string;
  let s3: RunningS3rver;
  let proxy: FaultyProxy;
  let provider: S3StorageProvider;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pis-s3-read-abort-'));
    s3 = await startS3rver(dir, [BUCKET]);
    proxy = await startFaultyProxy(s3.port);
    // One turn, so that a second call waits for it; long timeouts, so that only the abort ends it.
    provider = s3ProviderAt(proxy.url, {
      bucket: BUCKET,
      credentials: S3RVER_CREDENTIALS,
      maxSockets: 1,
      timeoutMs: 20_000,
    });
    await provider.put(KEY, Buffer.from('webp bytes'), {
      contentType: 'image/webp',
      cacheControl: 'public, max-age=31536000, immutable',
    });
  });

  afterEach(() => proxy.heal());

  afterAll(async () => {
    provider?.close();
    await proxy?.close();
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const turns = () => (provider as unknown as { turns: CallTurns }).turns;

  /** The series of the read metrics, from the scrape's text. */
  async function readSeries(metrics: Metrics): Promise<string[]> {
    return (await metrics.scrape())
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('storage_operation_duration_seconds_count') &&
          line.includes('operation="read"'),
      );
  }

  it('rejects with the abort while S3 has not answered, counted aborted', async () => {
    const metrics = new Metrics();
    const storage = measuredStorage(provider, metrics);
    proxy.hang(true);
    const caller = new AbortController();
    const reading = storage.read(KEY, { signal: caller.signal }).catch((error: unknown) => error);
    // Its turn taken, its request sent: held by the proxy, unanswered.
    while (turns().active === 0) await sleep(10);
    await sleep(100);
    const gone = new Error('every request for the result has gone');
    caller.abort(gone);
    const outcome = await Promise.race([reading, sleep(2000, 'still reading')]);
    expect(outcome).toBe(gone);
    expect(turns().active).toBe(0);
    expect(await readSeries(metrics)).toEqual([
      'storage_operation_duration_seconds_count{provider="s3",operation="read",outcome="aborted"} 1',
    ]);
  });

  it('rejects with the abort while it waits for its turn, and the turn goes on to the next', async () => {
    const held = await turns().take();
    const caller = new AbortController();
    const reading = provider.read(KEY, { signal: caller.signal }).catch((error: unknown) => error);
    const next = provider.read(KEY);
    await sleep(20);
    expect(turns().queued).toBe(2);
    // Aborted without a reason of its own: an AbortError, not the storage failing.
    caller.abort();
    const outcome = await reading;
    expect(outcome).not.toBeInstanceOf(StorageError);
    // The signal's DOMException, or where it is no Error of this realm, an Error caused by it.
    const abort = (outcome as Error).name === 'AbortError' ? outcome : (outcome as Error).cause;
    expect(abort).toMatchObject({ name: 'AbortError' });
    held();
    const object = await next;
    expect(object?.size).toBe(10);
    object?.stream.destroy();
    expect(turns().queued).toBe(0);
  });

  it('rejects a serve (an object for a client) with the abort too while S3 has not answered', async () => {
    proxy.hang(true);
    const caller = new AbortController();
    const serving = provider
      .serve(KEY, { method: 'GET', headers: {} }, { signal: caller.signal })
      .catch((error: unknown) => error);
    await sleep(100);
    const gone = new Error('the client has gone');
    caller.abort(gone);
    expect(await Promise.race([serving, sleep(2000, 'still serving')])).toBe(gone);
  });

  it('rejects with the abort when its signal has aborted before it asks', async () => {
    const gone = new Error('gone before it began');
    const outcome = await provider
      .read(KEY, { signal: AbortSignal.abort(gone) })
      .catch((error: unknown) => error);
    expect(outcome).toBe(gone);
  });
});
