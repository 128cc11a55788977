// npm run soak [-- --ops N | --minutes M] [--start S]
// Two instances of the built service (SERVICE_ROLE=all) share one PostgreSQL database and one local
// storage folder; mixed gallery work runs against both, with faults injected at random: clients
// that vanish mid-upload, Idempotency-Key retries of answers that were lost, an instance
// SIGKILLed and restarted, and every database connection terminated (pg_terminate_backend). The
// sequence comes from --start (printed), so a failing run can be replayed. At the end the rows,
// the stored files and the temporary folders are checked against each other, and one verdict line
// is printed; the exit status is non-zero unless it is clean.
// Everything it starts is stopped by PID, and its folder and database removed, however it ends.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createDatabase, dropDatabase, openSql } from '../bench/lib/database.mjs';
import { freePort, stopAll } from '../bench/lib/processes.mjs';
import { Service } from '../bench/lib/service.mjs';
import { check } from './lib/checks.mjs';
import { Fixtures } from './lib/fixtures.mjs';
import { LiveMemorySampler } from './lib/live-memory.mjs';
import { RssSampler } from './lib/rss.mjs';
import { Workload } from './lib/workload.mjs';

const ROOT = resolve(import.meta.dirname, '..');

function options() {
  const { values } = parseArgs({
    options: {
      ops: { type: 'string' },
      minutes: { type: 'string' },
      start: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('npm run soak -- [--ops N | --minutes M (default 3)] [--start S] [--keep]');
    process.exit(0);
  }
  const databaseUrl = process.env.SOAK_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!databaseUrl) {
    // Two processes cannot open one embedded PGlite database: the soak needs a server.
    throw new Error(
      'the soak needs a PostgreSQL server: set SOAK_DATABASE_URL or TEST_DATABASE_URL',
    );
  }
  const start = Number(values.start ?? Math.floor(Math.random() * 1_000_000));
  return {
    databaseUrl,
    start,
    ops: values.ops ? Number(values.ops) : Infinity,
    minutes: values.minutes ? Number(values.minutes) : values.ops ? Infinity : 3,
    keep: values.keep,
  };
}

async function main() {
  const opts = options();
  console.log(`soak: --start ${opts.start} (replay with npm run soak -- --start ${opts.start})`);
  const tmp = await mkdtemp(join(tmpdir(), 'soak-'));
  const db = await createDatabase(opts.databaseUrl);
  const fixtures = new Fixtures();
  let verdict;
  try {
    const fixtureUrl = await fixtures.listen();
    const dataDir = join(tmp, 'data');
    const metricsToken = randomBytes(24).toString('hex');
    const shared = {
      serviceDir: ROOT,
      dataDir,
      databaseUrl: db.url,
      logLevel: 'warn',
      extraEnv: {
        SERVICE_ROLE: 'all',
        // Bulk import rows fetch their images from the soak's own loopback server.
        NODE_ENV: 'development',
        IMPORT_ALLOWED_PRIVATE_ORIGINS: fixtureUrl,
        // The heap in use is read from /metrics (see lib/rss.mjs).
        METRICS_TOKEN: metricsToken,
      },
    };
    // The instance never killed is the one whose memory is judged: its inspector, on loopback,
    // lets the soak run a full collection in it before each reading (lib/live-memory.mjs).
    const inspectPort = await freePort();
    const a = new Service({
      ...shared,
      logFile: join(tmp, 'a.log'),
      nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`],
    });
    const key = await a.createApiKey('soak', 'admin');
    const b = new Service({ ...shared, logFile: join(tmp, 'b.log') });
    // One secret for both, so that either accepts what the other signed.
    Object.assign(b, { jwtSecret: a.jwtSecret, signingKey: a.signingKey });
    await a.start();
    await b.start();
    const rss = new RssSampler([a, b], metricsToken);
    const live = new LiveMemorySampler(a, inspectPort);
    const workload = new Workload({
      services: [a, b],
      key,
      start: opts.start,
      fixtures,
      fixtureUrl,
      databaseUrl: db.url,
    });
    await workload.prepare();
    await workload.run({ ops: opts.ops, minutes: opts.minutes });
    await workload.settle();
    const slopes = rss.stop();
    const memory = await live.stop();
    const sql = await openSql({ url: db.url });
    let problems;
    try {
      problems = [...workload.crashes(), ...(await check({ sql, dataDir, workload }))];
    } finally {
      await sql.close();
    }
    verdict = { problems, slopes, memory, workload };
  } finally {
    await stopAll();
    await fixtures.close();
    await dropDatabase(opts.databaseUrl, db.name).catch(() => {});
    if (!opts.keep) await rm(tmp, { recursive: true, force: true });
    else console.log(`soak: kept ${tmp}`);
  }
  return report(opts, verdict);
}

const RSS_SLOPE_LIMIT_MB_PER_MIN = 1;
// Readings after the warm-up needed to judge a slope: a run of 10 minutes or more has them.
const LEAST_READINGS_JUDGED = 6;
const LABELS = {
  imports: 'JSON imports',
  bulk: 'bulk imports',
  kill: 'kills',
  dbkill: 'database connection kills',
};

function report(opts, { problems, slopes, memory, workload }) {
  const n = (x) => x.toLocaleString('en');
  const counts = Object.entries(workload.counts)
    .map(([name, count]) => `${n(count)} ${LABELS[name] ?? name}`)
    .join(', ');
  // The first instance is never killed: its memory after each full collection is what is judged.
  const judged = memory.readings >= LEAST_READINGS_JUDGED;
  if (judged && memory.rssSlope > RSS_SLOPE_LIMIT_MB_PER_MIN) {
    problems.push(`RSS after a full collection grows by ${memory.rssSlope.toFixed(2)} MB/min`);
  }
  if (judged && memory.heapSlope > RSS_SLOPE_LIMIT_MB_PER_MIN) {
    problems.push(
      `the heap after a full collection grows by ${memory.heapSlope.toFixed(2)} MB/min`,
    );
  }
  for (const problem of problems.slice(0, 30)) console.log(`  ✗ ${problem}`);
  const clean = problems.length === 0;
  const signed = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
  const slope = slopes.map((s) => signed(s.slope)).join('/');
  const heap = slopes.map((s) => signed(s.heapSlope)).join('/');
  console.log(
    `soak: ${clean ? 'clean' : `NOT CLEAN (${problems.length} problems)`} · start ${opts.start} · ` +
      `${n(workload.total)} ops (${counts}) · ${n(workload.faults)} faults · ` +
      `${n(workload.lost)} lost · ${n(workload.orphans ?? 0)} orphans · ` +
      `${n(workload.leftovers ?? 0)} temporary files · ${n(workload.heldByCrash)} keys held by a kill · ` +
      `${n(workload.deletedUnanswered)} deletes a kill left unanswered · ` +
      `${n(workload.pendingAfterKill)} import rows pending after a kill · ` +
      `${n(workload.dbKillAnswers)} answers 503 database_unavailable after a connection kill · ` +
      `${n(workload.unexpected)} unexpected answers · ` +
      (judged
        ? `after full collections: RSS ${signed(memory.rssSlope)} MB/min, heap ${signed(memory.heapSlope)} MB/min`
        : `memory not judged (${memory.readings} readings after the warm-up, ${memory.errors} failed: a run under 10 minutes is too short)`) +
      ` · sampled between collections: RSS ${slope} MB/min, heap ${heap} MB/min`,
  );
  return clean ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (error) => {
    console.error(error);
    await stopAll();
    process.exit(2);
  },
);
