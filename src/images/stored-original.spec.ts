import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { eventually } from '../../test/support/eventually';
import type { StorageProvider } from '../storage/storage-provider';
import { removeLiveSpoolFiles } from './intake/upload-spool';
import {
  OriginalMissingError,
  releaseStoredOriginal,
  spoolStoredOriginal,
} from './stored-original';

describe(spoolStoredOriginal.name, () => {
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'pis-stored-original-'))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  /** A storage holding one object, read as a stream (the drivers' own are tested elsewhere). */
  const storage = (objects: Record<string, Buffer>) =>
    ({
      driver: 'local',
      read: (key: string) =>
        Promise.resolve(objects[key] ? { stream: Readable.from([objects[key]]) } : undefined),
    }) as unknown as StorageProvider;

  it('copies the original into the upload spool, readable by the service only', async () => {
    const bytes = Buffer.from('an original');
    const path = await spoolStoredOriginal(
      storage({ 'a/original.jpg': bytes }),
      'a/original.jpg',
      { DATA_DIR: dataDir },
      'rebuild',
    );
    expect(path.startsWith(join(dataDir, 'tmp', 'uploads', 'rebuild-'))).toBe(true);
    expect(readFileSync(path)).toEqual(bytes);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await releaseStoredOriginal(path);
  });

  it('is removed by a forced exit until it is released', async () => {
    const spool = () => join(dataDir, 'tmp', 'uploads');
    const read = () =>
      spoolStoredOriginal(
        storage({ 'a/original.jpg': Buffer.from('an original') }),
        'a/original.jpg',
        { DATA_DIR: dataDir },
        'transform',
      );
    const path = await read();
    // What main.ts runs just before a forced exit (SHUTDOWN_TIMEOUT_MS run out, a second signal).
    expect(removeLiveSpoolFiles()).toEqual({ files: 1 });
    expect(existsSync(path)).toBe(false);
    const released = await read();
    await releaseStoredOriginal(released);
    expect(readdirSync(spool())).toEqual([]);
    expect(removeLiveSpoolFiles()).toEqual({ files: 0 });
  });

  it('says when the original is not there', async () => {
    await expect(
      spoolStoredOriginal(storage({}), 'gone.jpg', { DATA_DIR: dataDir }, 'rebuild'),
    ).rejects.toBeInstanceOf(OriginalMissingError);
  });
  it('stops reading once its signal aborts, before or during the read: nothing left in the spool', async () => {
    const spool = () => join(dataDir, 'tmp', 'uploads');
    const signals: (AbortSignal | undefined)[] = [];
    let stream!: Readable;
    // The object's first bytes, then nothing: a storage that stalls mid-answer.
    const stalling = {
      driver: 's3',
      read: (_key: string, options?: { signal?: AbortSignal }) => {
        signals.push(options?.signal);
        stream = new Readable({ read: () => undefined });
        stream.push(Buffer.from('the first bytes'));
        return Promise.resolve({ stream });
      },
    } as unknown as StorageProvider;
    const gone = new AbortController();
    const reading = spoolStoredOriginal(
      stalling,
      'a/original.jpg',
      { DATA_DIR: dataDir },
      'transform',
      gone.signal,
    );
    // Aborted once the copy has begun (its folder made, its file open), however long that takes.
    await eventually(
      () => existsSync(spool()) && readdirSync(spool()).length === 1,
      'the copy to begin',
      5_000,
    );
    gone.abort(new Error('requests gone'));
    await expect(reading).rejects.toThrow('requests gone');
    // The read was given the signal (on S3 it ends the request), and its stream was let go.
    expect(signals).toEqual([gone.signal]);
    expect(stream.destroyed).toBe(true);
    expect(readdirSync(spool())).toEqual([]);
    await expect(
      spoolStoredOriginal(
        stalling,
        'a/original.jpg',
        { DATA_DIR: dataDir },
        'transform',
        gone.signal,
      ),
    ).rejects.toThrow('requests gone');
    expect(signals).toHaveLength(1);
    expect(readdirSync(spool())).toEqual([]);
  });

  it('leaves nothing in the spool when the storage fails mid-read', async () => {
    const failing = {
      driver: 's3',
      // The first bytes, then the connection lost once the copy asks for more: mid-read
      // whatever the timing (a timer could fire before the copy listens, or after it is done).
      read: () => {
        let sent = false;
        const stream = new Readable({
          read() {
            if (sent) return void setImmediate(() => this.destroy(new Error('connection reset')));
            sent = true;
            this.push(Buffer.from('the first bytes'));
          },
        });
        return Promise.resolve({ stream });
      },
    } as unknown as StorageProvider;
    await expect(
      spoolStoredOriginal(failing, 'a/original.jpg', { DATA_DIR: dataDir }, 'transform'),
    ).rejects.toThrow('connection reset');
    expect(readdirSync(join(dataDir, 'tmp', 'uploads'))).toEqual([]);
  });
});
