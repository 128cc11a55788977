// The end-of-run checks, on the database and the storage folder as they are once the work has
// settled: every row's files exist; every stored file has its row (a file left by a SIGKILL
// between the storage write and the commit is what the orphan sweep deletes once
// ORPHAN_SWEEP_GRACE_HOURS, at least an hour, has passed: such files are counted as orphans and
// accepted only when written within seconds of a kill, or of the database connections' kill, after
// which an upload cut mid-COMMIT keeps its files for the sweep too); no temporary files (but near a
// SIGKILL); one primary per
// non-empty gallery; every acknowledged image present unless the soak deleted it; one image per
// Idempotency-Key retry.
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

const KILL_WINDOW_MS = 30_000;

function nearKill(workload, mtimeMs) {
  return workload.kills.some((t) => Math.abs(t - mtimeMs) < KILL_WINDOW_MS);
}

/** Near a SIGKILL, or near the kill of every database connection (see the head of the file). */
function nearAnyKill(workload, mtimeMs) {
  const near = (t) => Math.abs(t - mtimeMs) < KILL_WINDOW_MS;
  return workload.kills.some(near) || workload.dbKills.some(near);
}

async function files(dir) {
  const out = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** A UUID as the API names it (src/common/ids/short-id.ts): base 57, 22 characters. */
function shortId(uuid) {
  let n = BigInt(`0x${uuid.replaceAll('-', '')}`);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 57n)] + out;
    n /= 57n;
  }
  return out.padStart(22, ALPHABET[0]);
}

export async function check({ sql, dataDir, workload }) {
  const problems = [...workload.problems];
  const media = join(dataDir, 'media');
  const { rows } = await sql.query(
    `SELECT id::text, product_id::text, is_primary, title, storage_key, renditions FROM images`,
  );
  const ids = new Set(rows.map((r) => r.id));
  const apiIds = new Set(rows.map((r) => shortId(r.id)));
  const held = new Set();
  for (const row of rows) {
    held.add(row.storage_key);
    for (const r of Object.values(row.renditions ?? {})) if (r?.key) held.add(r.key);
  }
  const stored = (await files(media))
    .map((f) => ({ path: f, key: relative(media, f) }))
    .filter((f) => !f.key.startsWith('.tmp/'));
  const onDisk = new Set(stored.map((f) => f.key));
  for (const key of held)
    if (!onDisk.has(key)) problems.push(`a row names ${key}, which is not stored`);
  let orphans = 0;
  for (const file of stored) {
    const derived = /^derived\/([0-9a-f-]{36})\//.exec(file.key);
    if (derived ? ids.has(derived[1]) : held.has(file.key)) continue;
    orphans += 1;
    const written = (await stat(file.path)).mtimeMs;
    if (!nearAnyKill(workload, written)) {
      problems.push(`${file.key} is stored but no row names it`);
    }
  }
  workload.orphans = orphans;
  // A killed process cannot remove its own temporary files: the spool sweep (files over an hour
  // old) does; those written near a kill are counted, any other is a finding.
  workload.leftovers = 0;
  for (const dir of [join(dataDir, 'tmp'), join(media, '.tmp')]) {
    for (const f of await files(dir)) {
      workload.leftovers += 1;
      if (!nearKill(workload, (await stat(f)).mtimeMs)) {
        problems.push(`temporary file left: ${relative(dataDir, f)}`);
      }
    }
  }
  const galleries = new Map();
  for (const row of rows) {
    if (!row.product_id) continue;
    galleries.set(row.product_id, (galleries.get(row.product_id) ?? 0) + (row.is_primary ? 1 : 0));
  }
  for (const [product, primaries] of galleries) {
    if (primaries !== 1) problems.push(`product ${product} has ${primaries} primary images`);
  }
  for (const [id, title] of workload.acknowledged) {
    if (workload.deleted.has(id) || apiIds.has(id) || ids.has(id)) continue;
    if (workload.unanswered.has(id)) {
      workload.deletedUnanswered += 1;
      continue;
    }
    workload.lost += 1;
    problems.push(`image ${id} (${title ?? 'bulk import'}) was acknowledged but is gone`);
  }
  const titles = new Map();
  for (const row of rows) titles.set(row.title, (titles.get(row.title) ?? 0) + 1);
  for (const title of workload.retriedTitles) {
    if ((titles.get(title) ?? 0) > 1)
      problems.push(`"${title}": ${titles.get(title)} images from one Idempotency-Key`);
  }
  return problems;
}
