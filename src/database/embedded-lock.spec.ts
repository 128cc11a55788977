import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDatabaseInUseError, lockEmbeddedDatabase, startTimeOf } from './embedded-lock';

describe(lockEmbeddedDatabase.name, () => {
  let folder: string;
  let dataDir: string;
  let lockFile: string;

  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'pis-lock-'));
    dataDir = join(folder, 'pglite');
    lockFile = `${dataDir}.lock`;
  });

  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  /** The id of a process that has ended. */
  const endedPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid;

  /** What a lock this process holds says: its id and when it started (Linux). */
  const ours = (): string => `${process.pid} ${startTimeOf(process.pid)}`;

  it('takes the directory for this process, counts its own pools, and lets it go with the last', () => {
    const first = lockEmbeddedDatabase(dataDir);
    expect(readFileSync(lockFile, 'utf8').trim()).toBe(ours());
    const second = lockEmbeddedDatabase(dataDir);
    first();
    first();
    expect(existsSync(lockFile)).toBe(true);
    second();
    expect(existsSync(lockFile)).toBe(false);
  });

  it('refuses a directory another live process holds, naming it and the lock file', () => {
    // The test's parent (Jest's) is alive, and not this process.
    writeFileSync(lockFile, `${process.ppid}\n`);
    let refusal: unknown;
    try {
      lockEmbeddedDatabase(dataDir);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(EmbeddedDatabaseInUseError);
    expect(refusal).toMatchObject({ pid: process.ppid, dataDir });
    expect((refusal as Error).message).toContain(lockFile);
    expect(readFileSync(lockFile, 'utf8').trim()).toBe(String(process.ppid));
  });

  it('refuses a lock naming a live process and when it started; one of the older form too', () => {
    for (const content of [`${process.ppid} ${startTimeOf(process.ppid)}\n`, `${process.ppid}\n`]) {
      writeFileSync(lockFile, content);
      expect(() => lockEmbeddedDatabase(dataDir)).toThrow(EmbeddedDatabaseInUseError);
    }
  });

  it.each([
    ['a process that has ended', () => `${endedPid()}\n`],
    ['this process (a container started again with the same pid)', () => `${process.pid}`],
    ['no process id at all', () => 'garbage'],
    // After a crash and a reboot, its id may be any program's: one that started at another time.
    [
      'a live process that started at another time (its id reused)',
      () => `${process.ppid} ${Number(startTimeOf(process.ppid)) + 1}\n`,
    ],
  ])('takes over a stale lock naming %s', (_, content) => {
    writeFileSync(lockFile, content());
    const release = lockEmbeddedDatabase(dataDir);
    expect(readFileSync(lockFile, 'utf8').trim()).toBe(ours());
    release();
    expect(existsSync(lockFile)).toBe(false);
  });

  it('leaves a lock another process took meanwhile when it lets go', () => {
    const release = lockEmbeddedDatabase(dataDir);
    writeFileSync(lockFile, `${process.ppid}\n`);
    release();
    expect(readFileSync(lockFile, 'utf8').trim()).toBe(String(process.ppid));
  });
});
