import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { ROOT } from './process';

/**
 * Gives the built service a `role-probe` queue whose jobs say which process ran them
 * (`NODE_OPTIONS=--require ROLE_PROBE_PRELOAD`; see the file for ROLE_PROBE_JOBS and
 * ROLE_PROBE_HOLD_MS).
 */
export const ROLE_PROBE_PRELOAD = join(ROOT, 'test', 'support', 'role-probe.preload.cjs');

export interface ProbeJob {
  state: string;
  output: { role?: string; pid?: number } | null;
}

/** The `role-probe` jobs in the server database at `url`, in the order they were queued. */
export async function probeJobs(url: string | undefined): Promise<ProbeJob[]> {
  if (!url) throw new Error('The role-probe jobs are read on a PostgreSQL server database');
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<ProbeJob>(
      "SELECT state, output FROM pgboss.job WHERE name = 'role-probe' ORDER BY data->>'n'",
    );
    return rows;
  } finally {
    await client.end();
  }
}

/** Whether a child process has neither exited nor been killed yet. */
export function stillRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}
