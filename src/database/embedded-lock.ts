import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

/**
 * The embedded database's data directory, taken by one process at a time. PGlite reads the
 * directory into memory when it opens and writes it back as it goes: a second process on the same
 * directory (the CLI while the service runs, a second `npm start`) worked on its own copy, and the
 * last writer won (a `reset-password` printed the user, exit 0, and was gone after a restart).
 *
 * The lock is a file beside the directory holding the process id, created exclusively (`wx`), and
 * where Linux says it (/proc), when that process started. A lock whose process is gone (a crash,
 * a kill), or whose id now names a process that started at another time (the id reused by any
 * program after a crash and a reboot, which the lock was refused for), is stale and taken over. Written here: the lock
 * libraries on npm (proper-lockfile) keep a lock alive by touching it on a timer and call it stale
 * after seconds without, which a process paused under load (or in a debugger) would lose. Two
 * processes starting at once after a crash may both find the stale lock; the exclusive create
 * lets one of them in, but the second's removal of the stale file can race the first's new one
 * (a window of microseconds, only then).
 */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    lockFile: string,
  ) {
    super(
      `The embedded database in ${dataDir} is in use by process ${pid}: stop it first (the ` +
        `service and the CLI each open it alone; run several against a PostgreSQL server, ` +
        `DATABASE_URL). If no such process runs, remove ${lockFile}.`,
    );
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

/** Lock files this process holds, and how many pools of its own hold each. */
const held = new Map<string, number>();

/**
 * Takes the data directory for this process (again, if it holds it already: one more pool of its
 * own), or throws EmbeddedDatabaseInUseError naming the process that holds it. Returns the release.
 */
export function lockEmbeddedDatabase(dataDir: string): () => void {
  const lockFile = `${dataDir}.lock`;
  const count = held.get(lockFile) ?? 0;
  if (count === 0) take(dataDir, lockFile);
  held.set(lockFile, count + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (held.get(lockFile) ?? 1) - 1;
    if (left > 0) return void held.set(lockFile, left);
    held.delete(lockFile);
    if (lockHolderOf(lockFile)?.pid === process.pid) rmSync(lockFile, { force: true });
  };
}

function take(dataDir: string, lockFile: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      try {
        writeSync(fd, `${process.pid} ${startTimeOf(process.pid) ?? ''}`.trim() + '\n');
      } finally {
        closeSync(fd);
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = lockHolderOf(lockFile);
    // Its process is gone (or is this one, a container's pid 1 started again): stale.
    if (holder && holder.pid !== process.pid && stillRunning(holder)) {
      throw new EmbeddedDatabaseInUseError(dataDir, holder.pid, lockFile);
    }
    rmSync(lockFile, { force: true });
  }
  throw new Error(`Could not take ${lockFile}: it keeps coming back.`);
}

/**
 * The process a lock file names: its id, and when it started if the file says (`<pid> <start>`;
 * one written before says only the id). Undefined when there is no file or it names no process.
 */
function lockHolderOf(lockFile: string): { pid: number; startTime?: string } | undefined {
  let text: string;
  try {
    text = readFileSync(lockFile, 'utf8');
  } catch {
    return undefined;
  }
  const [id, startTime] = text.trim().split(/\s+/);
  const pid = Number(id);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return startTime ? { pid, startTime } : { pid };
}

/** Whether the lock's process still runs: its id alive, and started when the lock says. */
function stillRunning(holder: { pid: number; startTime?: string }): boolean {
  if (!alive(holder.pid)) return false;
  const now = startTimeOf(holder.pid);
  return holder.startTime === undefined || now === undefined || now === holder.startTime;
}

/**
 * When a process started, in clock ticks since boot (the 22nd field of Linux's /proc/<pid>/stat,
 * counted after the command name, which may hold spaces and parentheses); undefined elsewhere.
 */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
