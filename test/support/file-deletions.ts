import type { DataSource } from 'typeorm';

/**
 * The keys whose deletion is queued and not done yet (the `file-deletion` jobs still to run, or
 * running): an empty list once every file a change released has been deleted.
 */
export async function pendingFileDeletions(ds: DataSource): Promise<string[]> {
  const rows: { key: string }[] = await ds.query(
    `SELECT jsonb_array_elements_text(data->'keys') AS key FROM pgboss.job
      WHERE name = 'file-deletion' AND state IN ('created', 'retry', 'active')`,
  );
  return rows.map((row) => row.key).sort();
}
