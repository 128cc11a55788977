// npm run bench [-- --short] [--db server|pglite] [--service-dir DIR] [--out DIR] [--only a,b]
//   [--galleries N,N|none]
// Starts the built service and its baselines on loopback, measures them side by side (see
// bench/README.md), prints the table and writes JSON, Markdown and an SVG chart into --out.
// Everything it starts is stopped by PID at the end, and its temporary directory and databases
// are removed, however the run ends.
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  analyze,
  createDatabase,
  dropDatabase,
  fillCatalogue,
  fillGallery,
  openSql,
} from './lib/database.mjs';
import { multipartBody, padJpeg, photoJpeg } from './lib/fixtures.mjs';
import { loadAverage, stopAll } from './lib/processes.mjs';
import { table, writeResults } from './lib/report.mjs';
import * as scenarios from './scenarios.mjs';
import { Service, startBaseline } from './lib/service.mjs';
import { startup } from './startup.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const SCENARIOS = [
  'uploads',
  'largePixels',
  'bigUploads',
  'hugeBodies',
  'galleries',
  'productLists',
  'media',
  'transforms',
  'startup',
];

function options() {
  const { values } = parseArgs({
    options: {
      short: { type: 'boolean', default: false },
      db: { type: 'string' },
      'service-dir': { type: 'string', default: ROOT },
      out: { type: 'string', default: join(ROOT, 'bench-results') },
      only: { type: 'string' },
      galleries: { type: 'string' },
      repeats: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      profile: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'npm run bench -- [--short] [--db server|pglite] [--service-dir DIR] [--out DIR] [--only ' +
        SCENARIOS.join(',') +
        '] [--galleries N,N|none] [--repeats N] [--log-level info] [--profile DIR]',
    );
    process.exit(0);
  }
  const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  const db = values.db ?? (serverUrl ? 'server' : 'pglite');
  if (db === 'server' && !serverUrl)
    throw new Error('--db server needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
  if (!['server', 'pglite'].includes(db)) throw new Error('--db is server or pglite');
  const short = values.short;
  const only = values.only ? values.only.split(',') : SCENARIOS;
  for (const name of only)
    if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario ${name}; one of ${SCENARIOS}`);
  if (values.galleries === 'none' && only.includes('productLists'))
    throw new Error('productLists lists the largest gallery: --galleries none leaves out none');
  return {
    short,
    db,
    serverUrl,
    only,
    serviceDir: resolve(values['service-dir']),
    out: resolve(values.out),
    logLevel: values['log-level'],
    profile: values.profile ? resolve(values.profile) : undefined,
    repeats: Number(values.repeats ?? (short ? 1 : 3)),
    uploadRepeats: Number(values.repeats ?? (short ? 1 : 2)),
    concurrencies: short ? [1, 4] : [1, 4, 16],
    connections: 8,
    seconds: short ? 1 : 3,
    galleries: gallerySizes(values.galleries ?? (short ? '1000' : '1000,100000')),
    catalogue: short ? 10_000 : 100_000,
  };
}

/**
 * The large galleries, besides the 10-image one: `1000,100000`, or `none` (only the 10-image
 * gallery against its baseline, for a quick measure of the per-request cost).
 */
function gallerySizes(list) {
  if (list === 'none') return [];
  return list.split(',').map((text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 20)
      throw new Error(`--galleries: ${text} is not a whole number of images, at least 20`);
    return [n.toLocaleString('en'), n];
  });
}

async function makeFixtures(log) {
  const photo = await photoJpeg({ width: 4000, height: 3000 });
  const big = padJpeg(
    await photoJpeg({ width: 6000, height: 4000, noise: 24, quality: 93, start: 5 }),
    15_000_000,
  );
  log(
    `fixtures: 12 MP photo ${(photo.length / 1e6).toFixed(1)} MB, 24 MP photo padded to ${(big.length / 1e6).toFixed(1)} MB`,
  );
  // 6300 × 6300 of smooth colour: 40 MP (the default pixel limit) in a few hundred KB.
  const pixels = await photoJpeg({
    width: 6300,
    height: 6300,
    noise: 0,
    quality: 60,
    start: 9,
    areas: 4,
  });
  return {
    pixels: { ...multipartBody('image', 'pixels.jpg', 'image/jpeg', pixels), bytes: pixels.length },
    photo: multipartBody('image', 'photo.jpg', 'image/jpeg', photo),
    big: { ...multipartBody('image', 'big.jpg', 'image/jpeg'), bytes: big },
    huge: multipartBody('image', 'huge.jpg', 'image/jpeg'),
  };
}

/** JSON API call with the key; throws on anything but 2xx. */
async function api(ctx, method, path, body) {
  const res = await fetch(`${ctx.service.url}${path}`, {
    method,
    headers: { ...ctx.auth.main, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Products through the API, and one real upload: its row and its files. */
async function createThroughApi(ctx) {
  const { opts, service } = ctx;
  const slugs = ['bench-uploads', 'bench-g10', ...opts.galleries.map(([, n]) => `bench-g${n}`)];
  for (const slug of slugs) await api(ctx, 'POST', '/api/v1/products', { name: slug, slug });
  const g10 = (await api(ctx, 'GET', '/api/v1/products?slug=bench-g10')).items[0].id;
  const form = new FormData();
  form.append(
    'image',
    new Blob(
      [
        ctx.fixtures.photo.body.subarray(
          ctx.fixtures.photo.head.length,
          -ctx.fixtures.photo.end.length,
        ),
      ],
      { type: 'image/jpeg' },
    ),
    'photo.jpg',
  );
  const res = await fetch(`${service.url}/api/v1/products/${g10}/images`, {
    method: 'POST',
    headers: ctx.auth.main,
    body: form,
  });
  const uploaded = await res.json();
  if (res.status !== 201)
    throw new Error(`the first upload answered ${res.status} ${JSON.stringify(uploaded)}`);
  const mediaKey = (url) => new URL(url).pathname.replace(/^\/media\//, '');
  ctx.thumbKey = mediaKey(uploaded.renditions.thumb.url);
  ctx.thumbBytes = uploaded.renditions.thumb.size;
  // The 12 MP original as stored (its bytes kept, metadata stripped): what transforms are made from.
  ctx.photo = { id: uploaded.id, key: mediaKey(uploaded.url) };
}

/**
 * The bulk rows, with SQL: copies of the uploaded image fill the galleries, and two more
 * organisations get 10 and `opts.catalogue` products (when the product lists are measured). On PGlite the service is stopped meanwhile
 * (one session), and the gallery baseline gets a copy of the database.
 */
async function insertRows(ctx) {
  const { opts, service } = ctx;
  if (opts.db === 'pglite') await service.stop();
  const started = performance.now();
  const sql = await openSql(
    opts.db === 'pglite' ? { pgliteDir: service.pgliteDir } : { url: service.databaseUrl },
  );
  try {
    const id = async (slug) =>
      (await sql.query('SELECT id FROM products WHERE slug = $1', [slug])).rows[0].id;
    ctx.products = { uploads: await id('bench-uploads'), g10: await id('bench-g10') };
    const sourceId = (
      await sql.query('SELECT id FROM images WHERE product_id = $1', [ctx.products.g10])
    ).rows[0].id;
    await fillGallery(sql, { sourceId, productId: ctx.products.g10, count: 9, primary: false });
    ctx.galleries = [];
    for (const [label, n] of opts.galleries) {
      const productId = await id(`bench-g${n}`);
      await fillGallery(sql, { sourceId, productId, count: n, primary: true });
      ctx.galleries.push([label, productId, n]);
    }
    // The catalogues only the product lists read (the larger takes most of this step's time).
    if (opts.only.includes('productLists')) {
      await fillCatalogue(sql, { orgSlug: 'bench-small', count: 10, sourceId, imagesEach: 3 });
      await fillCatalogue(sql, {
        orgSlug: 'bench-catalogue',
        count: opts.catalogue,
        sourceId,
        imagesEach: 1,
      });
    }
    await analyze(sql);
  } finally {
    await sql.close();
  }
  ctx.log(`bulk rows inserted in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (opts.db === 'pglite') {
    // The gallery baseline gets its own copy: an embedded database has one session.
    ctx.baselinePglite = join(ctx.tmp, 'baseline-pglite');
    await cp(service.pgliteDir, ctx.baselinePglite, { recursive: true });
    await service.start();
  }
}

async function startBaselines(ctx) {
  const { opts, tmp, service } = ctx;
  const dir = (name) => join(ROOT, 'bench', 'baselines', name);
  const shared = {
    IMAGE_RENDITIONS: service.env().IMAGE_RENDITIONS ?? '',
    IMAGE_PROCESSING_CONCURRENCY: '2',
  };
  for (const key of Object.keys(shared)) if (!shared[key]) delete shared[key];
  /** The service's settings of these names that are set (a baseline's defaults are the service's). */
  const configured = (...names) =>
    Object.fromEntries(
      names.flatMap((name) => (service.env()[name] ? [[name, service.env()[name]]] : [])),
    );
  const log = join(tmp, 'baselines.log');
  const start = (name, script, env) => startBaseline(name, dir(script), env, log, service.nodeArgs);
  const upload = (mode) => ({
    ...shared,
    MEDIA_DIR: join(tmp, `${mode}-media`),
    SPOOL_DIR: join(tmp, `${mode}-spool`),
    BASELINE_MODE: mode,
  });
  ctx.baselines = {
    upload: await start('upload baseline', 'upload-server.mjs', upload('one-decode')),
    perRendition: await start(
      'per-rendition baseline',
      'upload-server.mjs',
      upload('per-rendition'),
    ),
    static: await start('static baseline', 'static-server.mjs', {
      MEDIA_DIR: join(service.dataDir, 'media'),
    }),
    gallery: await start('gallery baseline', 'gallery-server.mjs', {
      ...(opts.db === 'pglite'
        ? { PGLITE_DIR: ctx.baselinePglite }
        : { DATABASE_URL: service.databaseUrl }),
      // The srcsets of `responsive`: the service's presets and widths, signed with its key.
      ...configured('IMAGE_RENDITIONS', 'DELIVERY_WIDTHS'),
      DELIVERY_SIGNING_KEYS: service.signingKey,
    }),
    transform: await start('transform baseline', 'transform-server.mjs', {
      MEDIA_DIR: join(service.dataDir, 'media'),
    }),
  };
}

async function main(ctx) {
  const { opts } = ctx;
  // The repository's own dist/ is built when missing or stale, as npm start does; another
  // --service-dir is taken as built.
  if (opts.serviceDir === ROOT) {
    execFileSync(process.execPath, [join('scripts', 'ensure-build.mjs')], {
      cwd: ROOT,
      stdio: 'inherit',
    });
  }
  ctx.fixtures = await makeFixtures(ctx.log);
  let databaseUrl;
  if (opts.db === 'server') {
    const db = await createDatabase(opts.serverUrl);
    ctx.databases.push(db.name);
    databaseUrl = db.url;
  }
  const service = new Service({
    serviceDir: opts.serviceDir,
    dataDir: join(ctx.tmp, 'service'),
    databaseUrl,
    logFile: join(ctx.tmp, 'service.log'),
    logLevel: opts.logLevel,
    // A CPU profile of each start of the service (and of each baseline), written when it stops
    // (bench/profile.mjs reads it; the file names carry the process ids the log shows).
    nodeArgs: opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`] : [],
  });
  ctx.service = service;
  const keys = {};
  for (const org of ['default', 'bench-small', 'bench-catalogue'])
    keys[org] = await service.createApiKey(org);
  ctx.auth = {
    main: { 'x-api-key': keys.default },
    small: { 'x-api-key': keys['bench-small'] },
    catalogue: { 'x-api-key': keys['bench-catalogue'] },
  };
  await service.start();
  await createThroughApi(ctx);
  await insertRows(ctx);
  await startBaselines(ctx);
  ctx.log(
    `service pid ${service.pid}, baselines ${Object.values(ctx.baselines)
      .map((b) => `${b.name} ${b.pid}`)
      .join(', ')}`,
  );
  for (const name of opts.only.filter((n) => n !== 'startup')) {
    const started = performance.now();
    await scenarios[name](ctx);
    ctx.log(`${name} done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  await stopAll();
  if (opts.only.includes('startup')) await startup(ctx);
}

const opts = options();
const ctx = {
  opts,
  rows: [],
  databases: [],
  row: (row) => ctx.rows.push(row),
  log: (line) =>
    console.error(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${line}`),
};
const t0 = performance.now();
const meta = {
  startedAt: new Date().toISOString(),
  cpus: cpus().length,
  database: opts.db,
  short: opts.short,
  loadBefore: loadAverage(),
  node: process.version,
};
let failed = false;
const interrupted = (signal) => {
  ctx.log(`${signal}: stopping`);
  void cleanup().then(() => process.exit(130));
};
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);

async function cleanup() {
  await stopAll();
  for (const name of ctx.databases.splice(0))
    await dropDatabase(opts.serverUrl, name).catch((e) =>
      console.error(`could not drop ${name}: ${e.message}`),
    );
  if (ctx.tmp) await rm(ctx.tmp, { recursive: true, force: true });
}

try {
  ctx.tmp = await mkdtemp(join(tmpdir(), 'bench-'));
  ctx.log(
    `database ${opts.db}, service ${opts.serviceDir}, ${opts.short ? 'short form' : 'full'}; load ${meta.loadBefore}`,
  );
  await main(ctx);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await cleanup();
}
meta.loadAfter = loadAverage();
meta.seconds = Math.round((performance.now() - t0) / 1000);
if (ctx.rows.length) {
  await mkdir(opts.out, { recursive: true });
  await writeResults(opts.out, { rows: ctx.rows, meta });
  console.log(`\n${table(ctx.rows)}\n`);
  console.log(
    `${meta.cpus} cores, database ${opts.db}, load average ${meta.loadBefore} → ${meta.loadAfter}, ${meta.seconds} s; results in ${opts.out}`,
  );
}
process.exit(failed ? 1 : 0);
