import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { dropServerDatabase } from './test-database';
import { databasePrefix, templateDatabaseName, type TestRun } from './test-run';

/**
 * What a test run left behind: processes, server databases and files. The global teardown fails
 * the run when any is found (a test that leaks passes on a fast machine and breaks the next run on
 * a slow one), then removes them all.
 */
export interface Leftovers {
  processes: { pid: number; command: string }[];
  databases: string[];
  files: string[];
}

function readProc(pid: string, file: string): string {
  try {
    return readFileSync(join('/proc', pid, file), 'latin1');
  } catch {
    return '';
  }
}

function parentOf(pid: string): number {
  const stat = readProc(pid, 'stat');
  // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * Processes of this run still alive: their working directory or environment points into the
 * run's folder (services, CLIs and browsers the tests started). Jest itself and its workers, which
 * carry the run's environment too, are not counted.
 */
export function runProcesses(run: TestRun): Leftovers['processes'] {
  const found: Leftovers['processes'] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    if (Number(pid) === process.pid) continue;
    const command = readProc(pid, 'cmdline').split('\0').join(' ').trim();
    if (parentOf(pid) === process.pid && command.includes('jest-worker')) continue;
    let cwd = '';
    try {
      cwd = readlinkSync(join('/proc', pid, 'cwd'));
    } catch {
      // gone, or not ours to read
    }
    const environment = readProc(pid, 'environ').split('\0');
    const inRun = cwd.startsWith(run.root) || environment.some((entry) => entry.includes(run.root));
    if (!inRun) continue;
    found.push({ pid: Number(pid), command });
  }
  return found;
}

export async function runDatabases(run: TestRun, serverUrl: string | undefined): Promise<string[]> {
  if (!serverUrl) return [];
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`,
      [databasePrefix(run.id)],
    );
    return rows.map((row) => row.datname).filter((name) => name !== templateDatabaseName(run.id));
  } finally {
    await client.end();
  }
}

/**
 * Not the tests' doing: Node.js 22+ keeps the compile cache of tools that enable it (npm, the
 * TypeScript compiler) in `$TMPDIR/node-compile-cache`; it is removed with the run's folder.
 */
const NOT_LEFTOVERS = new Set(['node-compile-cache']);

export function runFiles(run: TestRun): string[] {
  try {
    return readdirSync(run.tmp)
      .filter((name) => !NOT_LEFTOVERS.has(name))
      .map((name) => join(run.tmp, name));
  } catch {
    return [];
  }
}

export async function findLeftovers(
  run: TestRun,
  serverUrl: string | undefined,
): Promise<Leftovers> {
  return {
    processes: runProcesses(run),
    databases: await runDatabases(run, serverUrl),
    files: runFiles(run),
  };
}

export function describeLeftovers({ processes, databases, files }: Leftovers): string[] {
  return [
    ...processes.map((p) => `process ${p.pid} still running: ${p.command.slice(0, 200)}`),
    ...databases.map((name) => `database "${name}" not dropped`),
    ...files.map((path) => `${path} not removed`),
  ];
}

/** Ends the run's processes, drops its databases (template included) and removes its folder. */
export async function cleanUpRun(
  run: TestRun,
  serverUrl = process.env.TEST_DATABASE_URL,
): Promise<void> {
  for (const { pid } of runProcesses(run)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (serverUrl) {
    const names = [...(await runDatabases(run, serverUrl)), templateDatabaseName(run.id)];
    for (const name of names) await dropServerDatabase(serverUrl, name);
  }
  rmSync(run.root, { recursive: true, force: true });
}
