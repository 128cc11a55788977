import type { DataSource } from 'typeorm';

/**
 * The keys whose deletion is queued and not done yet (the `file-deletion` jobs still to run, or
 * running): an empty list once every file a change released has been deleted. Not the deletions
 * done again minutes later after a write given up at its deadline (`late_writes`).
 */
export async function pendingFileDeletions(ds: DataSource): Promise<string[]> {
  const rows: { key: string }[] = await ds.query(
    `SELECT jsonb_array_elements_text(data->'keys') AS key FROM pgboss.job
      WHERE name = 'file-deletion' AND state IN ('created', 'retry', 'active')
        AND NOT data ? 'late_writes'`,
  );
  return rows.map((row) => row.key).sort();
}

/**
 * The keys of the deletions to be done again after writes given up at their deadline, until they
 * are done: queued, running, or waiting for a retry (a job taken by a worker is `active` while its
 * deletion is still under way, so "no longer `created`" is not "done").
 */
export async function lateWriteDeletions(ds: DataSource): Promise<string[]> {
  const rows: { key: string }[] = await ds.query(
    `SELECT jsonb_array_elements_text(data->'keys') AS key FROM pgboss.job
      WHERE name = 'file-deletion' AND state IN ('created', 'retry', 'active')
        AND data ? 'late_writes'`,
  );
  return rows.map((row) => row.key).sort();
}
