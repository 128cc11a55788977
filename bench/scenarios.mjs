// The scenarios: each measures the service and its baseline back to back, `repeats` times (the
// order alternating), and adds rows of ratios with their goals (issue 17's table).
import { createHmac } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { hammer, postStream } from './lib/load.mjs';
import { loadAverage, sampleRss, cpuSeconds } from './lib/processes.mjs';
import { median } from './lib/report.mjs';

const MB = 1024 * 1024;

/** Runs each runner once per repetition, alternating the order; returns their measurements. */
async function interleave(repeats, runners) {
  const names = Object.keys(runners);
  const out = Object.fromEntries(names.map((name) => [name, []]));
  for (let r = 0; r < repeats; r++) {
    for (const name of r % 2 ? [...names].reverse() : names) out[name].push(await runners[name]());
  }
  return out;
}

const pairwise = (a, b, f) => a.map((x, i) => f(x, b[i]));

/** A row comparing `pick` of two lists of measurements, repetition by repetition. */
function compare(ctx, { pick, service, baseline, ...row }) {
  const [s, b] = [service.map(pick), baseline.map(pick)];
  ctx.row({
    ...row,
    service: s,
    baseline: b,
    ratios: pairwise(s, b, (x, y) => x / y),
    load: service.map((x) => x.load),
  });
}

/** POSTs of the 12 MP photo to `url` (`amount` of them, `connections` at a time), with the CPU it cost `pid`. */
function uploader(ctx, url, pid, auth = {}) {
  return async (connections, amount) => {
    const cpu = cpuSeconds(pid());
    const result = await hammer({
      url,
      connections,
      amount,
      method: 'POST',
      headers: { 'content-type': ctx.fixtures.photo.contentType, ...auth },
      body: ctx.fixtures.photo.body,
      ok: [201],
      deadlineSeconds: ctx.opts.short ? 60 : 150,
    });
    return { ...result, cpuPerImage: (cpuSeconds(pid()) - cpu) / Math.max(1, result.answered) };
  };
}

/** Uploads of the 12 MP photo at each concurrency: the service, one decode, decode per rendition. */
export async function uploads(ctx) {
  const { service, baselines, opts } = ctx;
  const targets = {
    service: uploader(
      ctx,
      `${service.url}/api/v1/products/${ctx.products.uploads}/images`,
      () => service.pid,
      ctx.auth.main,
    ),
    oneDecode: uploader(ctx, `${baselines.upload.url}/upload`, () => baselines.upload.pid),
    perRendition: uploader(
      ctx,
      `${baselines.perRendition.url}/upload`,
      () => baselines.perRendition.pid,
    ),
  };
  for (const t of Object.values(targets)) await t(1, 1); // warm-up
  for (const c of opts.concurrencies) {
    const amount = opts.short ? c : Math.max(4, c === 16 ? 16 : 2 * c);
    const m = await interleave(
      opts.uploadRepeats,
      Object.fromEntries(Object.entries(targets).map(([k, t]) => [k, () => t(c, amount)])),
    );
    const rates = (list) => list.map((x) => x.rps.toFixed(2)).join(' ');
    ctx.log(
      `uploads c=${c}: service ${rates(m.service)}, one decode ${rates(m.oneDecode)}, per rendition ${rates(m.perRendition)} images/s`,
    );
    const rps = (x) => x.rps;
    const details = { amount, statuses: m.service.map((x) => x.statuses) };
    compare(ctx, {
      what: `upload 12 MP JPEG, c=${c}`,
      unit: 'images/s',
      pick: rps,
      service: m.service,
      baseline: m.oneDecode,
      baselineName: 'frameworkless',
      goal: { at: 'least', value: 0.9 },
      details,
    });
    compare(ctx, {
      what: `upload c=${c} vs decode per rendition`,
      unit: 'images/s',
      pick: rps,
      service: m.service,
      baseline: m.perRendition,
      baselineName: 'per-rendition',
    });
    if (c === 1) {
      compare(ctx, {
        what: 'CPU per 12 MP JPEG upload',
        unit: 'CPU s/image',
        pick: (x) => x.cpuPerImage,
        service: m.service,
        baseline: m.oneDecode,
        baselineName: 'one decode + renditions',
        goal: { at: 'most', value: 1.3 },
      });
    }
  }
}

/** `count` concurrent streamed uploads against one server, sampling its RSS meanwhile. */
async function burst(pid, count, send) {
  const rss = sampleRss(pid);
  const load = loadAverage();
  const answers = await Promise.all(Array.from({ length: count }, () => send()));
  return { answers, rss: rss.stop(), load };
}

/** 16 concurrent 15 MB uploads: peak RSS; every answer 201 or 503 with Retry-After. */
export async function bigUploads(ctx) {
  const { service, baselines, fixtures, opts } = ctx;
  const { head, end, contentType, bytes } = fixtures.big;
  const send = (url, auth) => () =>
    postStream({
      url,
      headers: {
        'content-type': contentType,
        'content-length': head.length + bytes.length + end.length,
        ...auth,
      },
      head,
      chunk: bytes,
      bytes: bytes.length,
      end,
      timeoutMs: 300_000,
    });
  const count = opts.short ? 4 : 16;
  const s = await burst(
    service.pid,
    count,
    send(`${service.url}/api/v1/products/${ctx.products.uploads}/images`, ctx.auth.main),
  );
  const b = await burst(baselines.upload.pid, count, send(`${baselines.upload.url}/upload`, {}));
  const fine = s.answers.every((a) => a.status === 201 || (a.status === 503 && a.retryAfter));
  const statuses = s.answers.map((a) => a.status ?? a.error);
  ctx.log(
    `${count} × 15 MB: service ${statuses.join(',')} peak ${(s.rss.peak / MB).toFixed(0)} MB; baseline peak ${(b.rss.peak / MB).toFixed(0)} MB`,
  );
  ctx.row({
    what: `${count} × 15 MB uploads: peak RSS`,
    unit: 'MB',
    service: [s.rss.peak / MB],
    baseline: [b.rss.peak / MB],
    baselineName: 'frameworkless',
    ratios: [s.rss.peak / b.rss.peak],
    goalText: 'all 201 or 503 + Retry-After',
    pass: fine,
    load: [s.load],
    details: { statuses, seconds: median(s.answers.map((a) => a.ms)) / 1000 },
  });
}

/** 16 concurrent 100 MB bodies: all refused with 413; time to the answer; RSS stays flat. */
export async function hugeBodies(ctx) {
  const { service, baselines, fixtures, opts } = ctx;
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const { head, end, contentType } = fixtures.huge;
  const send = (url, auth) => () =>
    postStream({
      url,
      headers: { 'content-type': contentType, ...auth },
      head,
      chunk,
      bytes: 100 * 1000 * 1000,
      end,
    });
  const count = opts.short ? 4 : 16;
  const s = await burst(
    service.pid,
    count,
    send(`${service.url}/api/v1/products/${ctx.products.uploads}/images`, ctx.auth.main),
  );
  const b = await burst(baselines.upload.pid, count, send(`${baselines.upload.url}/upload`, {}));
  const growth = (x) => (x.rss.peak - x.rss.start) / MB;
  const all413 = s.answers.every((a) => a.status === 413);
  const times = (x) => x.answers.map((a) => a.ms);
  ctx.log(
    `${count} × 100 MB: service ${s.answers.map((a) => a.status ?? a.error).join(',')} in ${median(times(s)).toFixed(0)} ms, RSS +${growth(s).toFixed(0)} MB; baseline ${median(times(b)).toFixed(0)} ms`,
  );
  ctx.row({
    what: `${count} × 100 MB bodies: time to 413`,
    unit: 'ms (median)',
    service: [median(times(s))],
    baseline: [median(times(b))],
    baselineName: 'frameworkless',
    ratios: [median(times(s)) / median(times(b))],
    goalText: 'all 413',
    pass: all413,
    load: [s.load],
    details: {
      statuses: s.answers.map((a) => a.status ?? a.error),
      maxMs: Math.max(...times(s)),
      sentMB: median(s.answers.map((a) => a.sent)) / MB,
    },
  });
  ctx.row({
    what: `${count} × 100 MB bodies: RSS growth`,
    unit: 'MB',
    service: [growth(s)],
    baseline: [growth(b)],
    baselineName: 'frameworkless',
    // Flat: less than one body, so no body is held in memory, whatever their number.
    goalText: 'flat (< one body, 100 MB)',
    pass: growth(s) < 100,
    load: [s.load],
  });
}

/**
 * A timed run of GETs; then a pause as long as its slowest answer (at most 10 s): the requests
 * still in flight when the run stops keep the server and its database busy that long (a deep
 * page by number takes seconds at 100,000 images), and must not be counted against the next run.
 */
const get =
  (url, headers, opts, ok = [200]) =>
  async () => {
    const connections = opts.connections;
    let result = await hammer({ url, headers, connections, seconds: opts.seconds, ok });
    if (result.answered === 0) {
      // Not one answer within the run (a deep page by number, on a loaded machine): then one
      // request on each connection, however long they take, measured to the last answer.
      result = await hammer({ url, headers, connections, amount: connections, ok });
    }
    await setTimeout(Math.min(result.max, 10_000));
    return result;
  };

/** A run of `get` with the CPU time per request it cost the process `pid()` (`cpuMs`). */
const withCpu = (run, pid) => async () => {
  const cpu = cpuSeconds(pid());
  const result = await run();
  return { ...result, cpuMs: ((cpuSeconds(pid()) - cpu) * 1000) / Math.max(1, result.requests) };
};

/** GET `url` as JSON; anything but 200 means the bench cannot measure what it meant to. */
async function getJson(url, headers) {
  const res = await fetch(url, { headers });
  const body = await res.json();
  if (res.status !== 200)
    throw new Error(`GET ${url} answered ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/**
 * How deep the service serves a gallery page by number (MAX_GALLERY_PAGE_DEPTH in
 * src/images/dto/gallery.dto.ts): a page whose `(page - 1) × per_page` is deeper is 400
 * page_too_deep, and `cursor` reads further.
 */
const PAGE_DEPTH = 1_000;

/**
 * The cursor of a gallery's last page: `next_cursor` of the page before it, read by number from
 * the baseline (the service serves no page that deep by number; the baseline runs its keyset
 * query and writes its cursors). Checked to lead the service to the baseline's last page by
 * number (the same images: the copies' `created_at` differ), the baseline to follow it alike,
 * and the total to be the `count` rows inserted (the product's kept count was added to).
 */
async function lastPageCursor(ctx, id, count, perPage) {
  const lastPage = Math.ceil(count / perPage);
  const { service, baselines } = ctx;
  const baselineUrl = (query) => `${baselines.gallery.url}/products/${id}/images?${query}`;
  const before = await getJson(baselineUrl(`page=${lastPage - 1}&per_page=${perPage}`), {});
  const cursor = before.next_cursor;
  const byNumber = await getJson(baselineUrl(`page=${lastPage}&per_page=${perPage}`), {});
  const byCursor = await getJson(
    `${service.url}/api/v1/products/${id}/images?per_page=${perPage}&cursor=${cursor}`,
    ctx.auth.main,
  );
  const baselineByCursor = await getJson(baselineUrl(`per_page=${perPage}&cursor=${cursor}`), {});
  const rows = (page) => page.items.map((image) => image.created_at).join();
  if (byCursor.total !== count || byNumber.total !== count) {
    throw new Error(
      `gallery ${id}: total ${byCursor.total} (baseline ${byNumber.total}), not ${count}`,
    );
  }
  if (!cursor || rows(byCursor) !== rows(byNumber) || rows(baselineByCursor) !== rows(byNumber)) {
    throw new Error(
      `gallery ${id}: the cursor of page ${lastPage - 1} (${cursor}) does not lead to page ${lastPage}`,
    );
  }
  return cursor;
}

/**
 * The deepest page by number the service serves (`PAGE_DEPTH` images deep, or the last page of
 * a smaller gallery); the page after the deepest it would serve is checked to be refused.
 */
async function deepestPage(ctx, id, count, perPage) {
  const deepest = Math.min(Math.ceil(count / perPage), Math.floor(PAGE_DEPTH / perPage) + 1);
  const url = (page) =>
    `${ctx.service.url}/api/v1/products/${id}/images?page=${page}&per_page=${perPage}`;
  await getJson(url(deepest), ctx.auth.main);
  const tooDeep = Math.floor(PAGE_DEPTH / perPage) + 2;
  const res = await fetch(url(tooDeep), { headers: ctx.auth.main });
  const problem = await res.json();
  if (res.status !== 400 || problem.code !== 'page_too_deep') {
    throw new Error(
      `gallery ${id}: page ${tooDeep} answered ${res.status} ${problem.code}, not 400 page_too_deep`,
    );
  }
  return deepest;
}

/**
 * Gallery reads: 10 images against Fastify + pg; then 1,000 and 100,000 images: the first page,
 * the deepest by number the service serves (an OFFSET: the rows before it are walked; at most
 * 1,000) and the last by cursor (keyset, from the index): p99 against the 10-image gallery's, the
 * baseline's in the details.
 */
export async function galleries(ctx) {
  const { service, baselines, opts } = ctx;
  const perPage = 10;
  const first = `page=1&per_page=${perPage}`;
  await sameAnswers(ctx, `${ctx.products.g10}/images?${first}`);
  const cases = [['10', ctx.products.g10, first]];
  for (const [label, id, n] of ctx.galleries) {
    const deepest = await deepestPage(ctx, id, n, perPage);
    const cursor = await lastPageCursor(ctx, id, n, perPage);
    cases.push(
      [`${label} p1`, id, first],
      // Short labels: the chart has about 50 characters for each.
      [`${label} deepest by page`, id, `page=${deepest}&per_page=${perPage}`],
      [`${label} last by cursor`, id, `per_page=${perPage}&cursor=${cursor}`],
    );
  }
  const runners = {};
  for (const [label, id, query] of cases) {
    const serviceUrl = `${service.url}/api/v1/products/${id}/images?${query}`;
    const baselineUrl = `${baselines.gallery.url}/products/${id}/images?${query}`;
    await warm(serviceUrl, ctx.auth.main);
    await warm(baselineUrl, {});
    runners[`service ${label}`] = get(serviceUrl, ctx.auth.main, opts);
    runners[`baseline ${label}`] = get(baselineUrl, {}, opts);
  }
  // The 10-image gallery's CPU time per request in each process (the database's not included):
  // steadier than the rates on a machine shared with other work.
  runners['service 10'] = withCpu(runners['service 10'], () => service.pid);
  runners['baseline 10'] = withCpu(runners['baseline 10'], () => baselines.gallery.pid);
  // The 10-image gallery is measured first and is every other row's yardstick: one unmeasured run
  // of it first, so both servers' code is compiled (JIT) and their pools full before any figure.
  await runners['service 10']();
  await runners['baseline 10']();
  const m = await interleave(opts.repeats, runners);
  galleryRows(ctx, m, cases);
}

/**
 * The baseline answers what the service answers: the same fields, and `responsive` of the same
 * shape (presets, formats, widths and sizes of each srcset), so their rates compare like for like.
 */
async function sameAnswers(ctx, path) {
  const service = await getJson(`${ctx.service.url}/api/v1/products/${path}`, ctx.auth.main);
  const baseline = await getJson(`${ctx.baselines.gallery.url}/products/${path}`, {});
  const shape = (page) =>
    JSON.stringify(
      page.items.map((image) => ({
        fields: Object.keys(image).sort(),
        responsive: Object.entries(image.responsive ?? {}).map(([name, r]) => [
          name,
          r.width,
          r.height,
          r.type,
          r.src.length,
          Object.entries(r.srcset).map(([format, set]) => [
            format,
            set.split(', ').map((entry) => entry.split(' ')[1]),
          ]),
        ]),
      })),
    );
  const [s, b] = [shape(service), shape(baseline)];
  // Fields the baseline has never answered: the uploader (a query of its own in the service) and
  // the size in words.
  const leftOut = /"(human_readable_size|uploaded_by)",?/g;
  if (s.replace(leftOut, '') !== b.replace(leftOut, '')) {
    throw new Error(`the gallery baseline answers otherwise than the service:\n${s}\n${b}`);
  }
}

/** The gallery rows: req/s of 10 images against the baseline, then each case's p99 against that. */
function galleryRows(ctx, m, cases) {
  const rps = (list) => list.map((x) => x.rps);
  const p99 = (list) => list.map((x) => x.p99);
  const s10 = m['service 10'];
  ctx.row({
    what: 'gallery GET, 10 images',
    unit: 'req/s',
    service: rps(s10),
    baseline: rps(m['baseline 10']),
    baselineName: 'Fastify + pg',
    ratios: pairwise(rps(s10), rps(m['baseline 10']), (s, b) => s / b),
    goal: { at: 'least', value: 0.6 },
    load: s10.map((x) => x.load),
    details: {
      serviceCpuMs: s10.map((x) => x.cpuMs),
      baselineCpuMs: m['baseline 10'].map((x) => x.cpuMs),
    },
  });
  const cpu = (list) => median(list.map((x) => x.cpuMs)).toFixed(2);
  ctx.log(
    `gallery of 10: CPU per request ${cpu(s10)} ms, baseline ${cpu(m['baseline 10'])} ms (medians)`,
  );
  for (const [label] of cases.slice(1)) {
    const s = m[`service ${label}`];
    const b = m[`baseline ${label}`];
    ctx.row({
      what: `gallery ${label}: p99 vs 10 images`,
      unit: 'p99 ms',
      service: p99(s),
      baseline: p99(s10),
      baselineName: 'same, 10 images',
      ratios: pairwise(p99(s), p99(s10), (x, y) => x / y),
      // Flat (the "p99 flat from 10 to 100,000 images"). The deepest page by number is an
      // OFFSET over up to 1,000 rows and may not meet it: the cursor is the way to read deep pages.
      goal: { at: 'most', value: 1.5 },
      load: s.map((x) => x.load),
      details: { baselineRps: rps(b), serviceRps: rps(s), baselineP99: p99(b) },
    });
  }
}

/** A few requests, so each target is warm (JIT, pools, caches) before it is measured. */
async function warm(url, headers) {
  for (let i = 0; i < 3; i++) {
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  }
}

/** Product lists: a page holding a 100,000-image product, and 100,000 products; vs 10 products. */
export async function productLists(ctx) {
  const { service, opts } = ctx;
  const list = (auth) => get(`${service.url}/api/v1/products?limit=20`, auth, opts);
  const m = await interleave(opts.repeats, {
    small: list(ctx.auth.small),
    big: list(ctx.auth.main),
    catalogue: list(ctx.auth.catalogue),
  });
  const [biggest] = ctx.galleries.at(-1);
  const catalogue = opts.catalogue.toLocaleString('en');
  const p50 = (l) => l.map((x) => x.p50);
  ctx.row({
    what: `product list, one with ${biggest} images`,
    unit: 'p50 ms',
    service: p50(m.big),
    baseline: p50(m.small),
    baselineName: '10 products',
    ratios: pairwise(p50(m.big), p50(m.small), (x, y) => x / y),
    goal: { at: 'most', value: 1.5 },
    load: m.big.map((x) => x.load),
  });
  ctx.row({
    what: `product list, ${catalogue} products`,
    unit: 'p50 ms',
    service: p50(m.catalogue),
    baseline: p50(m.small),
    baselineName: '10 products',
    ratios: pairwise(p50(m.catalogue), p50(m.small), (x, y) => x / y),
    goal: { at: 'most', value: 1.5 },
    load: m.catalogue.map((x) => x.load),
  });
}

/** /media: the thumbnail through the service and through @fastify/static, with and without If-None-Match. */
export async function media(ctx) {
  const { service, baselines, opts } = ctx;
  const serviceUrl = `${service.url}/media/${ctx.thumbKey}`;
  const staticUrl = `${baselines.static.url}/media/${ctx.thumbKey}`;
  const etag = async (url) =>
    await fetch(url).then(async (r) => (await r.arrayBuffer(), r.headers.get('etag')));
  const [serviceTag, staticTag] = [await etag(serviceUrl), await etag(staticUrl)];
  const m = await interleave(opts.repeats, {
    service: get(serviceUrl, {}, opts),
    static: get(staticUrl, {}, opts),
    service304: get(serviceUrl, { 'if-none-match': serviceTag }, opts, [304]),
    static304: get(staticUrl, { 'if-none-match': staticTag }, opts, [304]),
  });
  const rps = (l) => l.map((x) => x.rps);
  ctx.row({
    what: `/media thumbnail (${(ctx.thumbBytes / 1024).toFixed(0)} KB)`,
    unit: 'req/s',
    service: rps(m.service),
    baseline: rps(m.static),
    baselineName: '@fastify/static',
    ratios: pairwise(rps(m.service), rps(m.static), (s, b) => s / b),
    goal: { at: 'least', value: 0.9 },
    load: m.service.map((x) => x.load),
  });
  ctx.row({
    what: '/media with If-None-Match (304)',
    unit: 'req/s',
    service: rps(m.service304),
    baseline: rps(m.static304),
    baselineName: '@fastify/static',
    ratios: pairwise(rps(m.service304), rps(m.static304), (s, b) => s / b),
    goal: { at: 'least', value: 0.9 },
    load: m.service304.map((x) => x.load),
  });
}

/** One upload at a time of a 40 MP JPEG of few bytes: CPU and peak RSS growth against one decode. */
export async function largePixels(ctx) {
  const { service, baselines, opts, fixtures } = ctx;
  const once =
    (url, pid, auth = {}) =>
    async () => {
      const rss = sampleRss(pid());
      const cpu = cpuSeconds(pid());
      const result = await hammer({
        url,
        amount: 1,
        method: 'POST',
        headers: { 'content-type': fixtures.pixels.contentType, ...auth },
        body: fixtures.pixels.body,
        ok: [201],
        deadlineSeconds: 120,
      });
      const { start, peak } = rss.stop();
      return { ...result, cpu: cpuSeconds(pid()) - cpu, growth: (peak - start) / MB };
    };
  const m = await interleave(opts.uploadRepeats, {
    service: once(
      `${service.url}/api/v1/products/${ctx.products.uploads}/images`,
      () => service.pid,
      ctx.auth.main,
    ),
    baseline: once(`${baselines.upload.url}/upload`, () => baselines.upload.pid),
  });
  const what = `40 MP JPEG (${(fixtures.pixels.bytes / 1024).toFixed(0)} KB)`;
  const details = { statuses: m.service.map((x) => x.statuses) };
  compare(ctx, {
    what: `${what}: CPU`,
    unit: 'CPU s',
    pick: (x) => x.cpu,
    service: m.service,
    baseline: m.baseline,
    baselineName: 'one decode + renditions',
    goal: { at: 'most', value: 1.3 },
    details,
  });
  compare(ctx, {
    what: `${what}: RSS growth`,
    unit: 'MB',
    pick: (x) => x.growth,
    service: m.service,
    baseline: m.baseline,
    baselineName: 'one decode + renditions',
    goal: { at: 'most', value: 1.3 },
  });
}

/** A transform URL of the service, signed with the key the bench gave it (url-signer.ts). */
function transformUrl(ctx, options) {
  const { service, photo } = ctx;
  const signature = createHmac('sha256', service.signingKey)
    .update(`${options}/${photo.id}`)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
  return `${service.url}/transform/${signature}/${options}/${photo.id}`;
}

/** One GET to its last byte, at concurrency 1: milliseconds; anything but a WebP 200 is an error. */
async function timedGet(url) {
  const started = performance.now();
  const res = await fetch(url);
  const bytes = await res.arrayBuffer();
  const ms = performance.now() - started;
  if (res.status !== 200 || res.headers.get('content-type') !== 'image/webp') {
    throw new Error(`GET ${url} answered ${res.status} ${res.headers.get('content-type')}`);
  }
  return { ms, bytes: bytes.byteLength };
}

/** The service's transform results on disk (local storage): `derived/<image id>/<variant>.<ext>`. */
async function derivedFiles(ctx) {
  const root = join(ctx.service.dataDir, 'media', 'derived');
  const dirs = await readdir(root).catch(() => []);
  const files = [];
  for (const dir of dirs) {
    for (const name of await readdir(join(root, dir))) files.push(`derived/${dir}/${name}`);
  }
  return files;
}

/**
 * On-request transforms of the 12 MP photo to 640 px WebP. First requests: `count` distinct URLs
 * (the quality differs, so each is a result not made yet), one at a time, against a sharp-only
 * server resizing the same original file per request; checked to have made one stored result
 * each. Then a result already made, requested again and again, against @fastify/static serving
 * that stored file.
 */
export async function transforms(ctx) {
  const { baselines, opts, photo } = ctx;
  const count = opts.short ? 3 : 8;
  const options = (quality) => `w_640,f_webp,q_${quality}`;
  const baselineUrl = (quality) => `${baselines.transform.url}/resize/640/${quality}/${photo.key}`;
  // Warm-up (JIT, sharp's first load) at another width, so no measured URL is made by it.
  await timedGet(transformUrl(ctx, 'w_512,f_webp'));
  await timedGet(`${baselines.transform.url}/resize/512/80/${photo.key}`);
  const before = (await derivedFiles(ctx)).length;
  // Repetition r asks for qualities 90 - r × count downwards: results no earlier one made, the
  // service and the baseline the same ones.
  const qualitiesOf = (r) => Array.from({ length: count }, (_, i) => 90 - r * count - i);
  const firstRequests = (url) => {
    let runs = 0;
    return async () => {
      const qualities = qualitiesOf(runs++);
      const load = loadAverage();
      const times = [];
      for (const quality of qualities) times.push((await timedGet(url(quality))).ms);
      return { qualities, msPerResult: median(times), load };
    };
  };
  const m = await interleave(opts.repeats, {
    service: firstRequests((quality) => transformUrl(ctx, options(quality))),
    baseline: firstRequests(baselineUrl),
  });
  const made = m.service.flatMap((x) => x.qualities);
  const derived = await derivedFiles(ctx);
  if (derived.length - before !== made.length) {
    throw new Error(
      `${made.length} first requests stored ${derived.length - before} results, not one each`,
    );
  }
  const ms = (l) => l.map((x) => x.msPerResult.toFixed(0)).join(' ');
  ctx.log(`transforms, first request: service ${ms(m.service)}, sharp only ${ms(m.baseline)} ms`);
  compare(ctx, {
    what: `transform 12 MP → 640 px WebP, first request`,
    unit: 'ms/result',
    pick: (x) => x.msPerResult,
    service: m.service,
    baseline: m.baseline,
    baselineName: 'sharp only',
    goal: { at: 'most', value: 1.3 },
    details: { perRun: count, qualities: m.service.map((x) => x.qualities) },
  });
  await cachedTransform(ctx, made[0], derived);
}

/** One result already made, requested again and again: the service against @fastify/static. */
async function cachedTransform(ctx, quality, derived) {
  const { baselines, opts } = ctx;
  const key = derived.find((file) => file.endsWith(`-q${quality}.webp`));
  if (!key) throw new Error(`no stored result of quality ${quality} among ${derived}`);
  const serviceUrl = transformUrl(ctx, `w_640,f_webp,q_${quality}`);
  const staticUrl = `${baselines.static.url}/media/${key}`;
  await warm(serviceUrl, {});
  await warm(staticUrl, {});
  const m = await interleave(opts.repeats, {
    service: withCpu(get(serviceUrl, {}, opts), () => ctx.service.pid),
    static: withCpu(get(staticUrl, {}, opts), () => baselines.static.pid),
  });
  const rps = (l) => l.map((x) => x.rps);
  const size = (await stat(join(ctx.service.dataDir, 'media', key))).size;
  // The CPU each request cost each process: what a loaded machine changes least.
  const cpu = (l) => median(l.map((x) => x.cpuMs)).toFixed(3);
  ctx.log(`cached transform: CPU per request ${cpu(m.service)} ms, static ${cpu(m.static)} ms`);
  ctx.row({
    what: `transform 640 px WebP, cached (${(size / 1024).toFixed(0)} KB)`,
    unit: 'req/s',
    service: rps(m.service),
    baseline: rps(m.static),
    baselineName: '@fastify/static',
    ratios: pairwise(rps(m.service), rps(m.static), (s, b) => s / b),
    goal: { at: 'least', value: 0.9 },
    load: m.service.map((x) => x.load),
    details: {
      serviceCpuMs: m.service.map((x) => x.cpuMs),
      staticCpuMs: m.static.map((x) => x.cpuMs),
    },
  });
}
