// The soak's operations, drawn from a pseudo-random sequence (mulberry32 of --start): uploads,
// JSON imports, stand-alone uploads then attach, reorders (If-Match), primary changes, deletes, a
// bulk import now and then; and faults: a client that vanishes mid-upload, an answer lost after
// the request was sent and retried with its Idempotency-Key, an instance SIGKILLed and restarted,
// every database connection of both instances terminated at once (pg_terminate_backend).
// What the service acknowledged (2xx) is remembered for the checks.
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSql } from '../../bench/lib/database.mjs';
import { tail } from '../../bench/lib/processes.mjs';
import { multipartBody } from '../../bench/lib/fixtures.mjs';

const PRODUCTS = 6;
const WORKERS = 4;
/** Answers that concurrent work explains: a stale If-Match, an image another worker deleted. */
const EXPECTED = new Set([404, 409, 412]);

function sequence(start) {
  let state = start >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const OPERATIONS = [
  ['uploads', 30],
  ['imports', 8],
  ['attaches', 12],
  ['reorders', 12],
  ['primaries', 10],
  ['deletes', 14],
  ['bulk', 2],
  ['disconnects', 4],
  ['retries', 4],
  ['kill', 0.6],
  ['dbkill', 0.6],
];
/** How long after its connections were killed a 503 database_unavailable is that fault's answer. */
const DB_KILL_ANSWER_MS = 10_000;
const WEIGHT = OPERATIONS.reduce((s, [, w]) => s + w, 0);

export class Workload {
  counts = Object.fromEntries(OPERATIONS.map(([name]) => [name, 0]));
  total = 0;
  faults = 0;
  lost = 0;
  unexpected = 0;
  problems = [];
  /** Image ids the service answered 2xx for, and those the soak deleted (204) itself. */
  acknowledged = new Map();
  deleted = new Set();
  /** Image ids the soak sent a DELETE for and got no answer (see deletes). */
  unanswered = new Set();
  deletedUnanswered = 0;
  /** Titles sent with an Idempotency-Key retry: exactly one image each must result. */
  retriedTitles = [];
  bulkImports = [];
  /** When each SIGKILL happened (ms since the epoch). */
  kills = [];
  /** Retries whose key a killed process had claimed: 409 until the key expires. */
  heldByCrash = 0;
  /** Bulk import rows still pending at the end after a kill (their job's lease runs). */
  pendingAfterKill = 0;
  /** When the database connections were last killed (performance.now()), and 503s that explains. */
  lastDbKill = -Infinity;
  /**
   * When each kill of the database connections happened (ms since the epoch): an upload whose
   * connection it cut may have been committing, which no new connection can tell at once, so its
   * files are kept for the orphan sweep (README, "Database failover"), as a SIGKILL's are.
   */
  dbKills = [];
  dbKillAnswers = 0;
  serial = 0;

  constructor({ services, key, start, fixtures, fixtureUrl, databaseUrl }) {
    Object.assign(this, { services, fixtures, fixtureUrl, databaseUrl });
    this.headers = { 'x-api-key': key };
    this.next = sequence(start);
  }

  async prepare() {
    this.products = [];
    for (let i = 0; i < PRODUCTS; i++) {
      const body = { name: `Soak ${i}`, slug: `soak-${i}` };
      const product = await this.json('POST', '/api/v1/products', body, this.services[0]);
      this.products.push(product.body.id);
    }
  }

  async run({ ops, minutes }) {
    const until = performance.now() + minutes * 60_000;
    const worker = async () => {
      while (this.total < ops && performance.now() < until) {
        this.total += 1;
        await this.step();
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
  }

  async step() {
    let r = this.next() * WEIGHT;
    const [name] = OPERATIONS.find(([, w]) => (r -= w) < 0) ?? OPERATIONS[0];
    // A kill is counted when it happens (at most one of each kind every 30 seconds).
    if (name !== 'kill' && name !== 'dbkill') this.counts[name] += 1;
    const product = this.products[Math.floor(this.next() * PRODUCTS)];
    const service = this.pickService();
    if (!service) return sleep(100);
    try {
      await this[name](service, product);
    } catch (error) {
      // A connection refused or reset by an instance being killed is the fault, not a finding;
      // an instance that exited on its own is (see crashes()).
      if (this.killing || service.proc === null) return;
      this.note(`${name}: ${error.message}`);
    }
  }

  pickService() {
    const alive = this.services.filter((s) => s.proc && !s.proc.exited);
    return alive[Math.floor(this.next() * alive.length)];
  }

  note(problem) {
    this.unexpected += 1;
    this.problems.push(problem);
  }

  answered(name, res, ok) {
    if (res.status >= 200 && res.status < 300) return true;
    if (this.databaseKillAnswer(res)) return false;
    if (!(EXPECTED.has(res.status) && ok)) {
      this.note(`${name}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
    }
    return false;
  }

  /** A 503 database_unavailable within seconds of the connections being killed: the fault's. */
  databaseKillAnswer(res) {
    const explained =
      res?.status === 503 &&
      res.body?.code === 'database_unavailable' &&
      performance.now() - this.lastDbKill < DB_KILL_ANSWER_MS;
    if (explained) this.dbKillAnswers += 1;
    return explained;
  }

  title(kind) {
    this.serial += 1;
    return `soak ${kind} ${this.serial}`;
  }

  async json(method, path, body, service, extra = {}) {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: {
        ...this.headers,
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...extra,
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  }

  async multipart(service, path, fields, image, extra = {}) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('image', new Blob([image.bytes], { type: image.type }), `soak.${image.ext}`);
    const res = await fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { ...this.headers, ...extra },
      body: form,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  acknowledge(id, title) {
    this.acknowledged.set(id, title);
  }

  async uploads(service, product) {
    const title = this.title('upload');
    const image = this.fixtures.pick(this.next);
    const res = await this.multipart(
      service,
      `/api/v1/products/${product}/images`,
      { title },
      image,
    );
    if (this.answered('upload', res, false)) this.acknowledge(res.body.id, title);
  }

  async imports(service, product) {
    const image = this.fixtures.pick(this.next);
    const uri = `data:${image.type};base64,${image.bytes.toString('base64')}`;
    const res = await this.json(
      'PUT',
      `/api/v1/products/${product}/image`,
      { image: uri },
      service,
    );
    this.answered('json import', res, false);
  }

  async attaches(service, product) {
    const title = this.title('asset');
    const image = this.fixtures.pick(this.next);
    const up = await this.multipart(
      service,
      '/api/v1/images',
      { purpose: 'product', title },
      image,
    );
    if (!this.answered('stand-alone upload', up, false)) return;
    const body = { image_id: up.body.id };
    const res = await this.json('POST', `/api/v1/products/${product}/images/attach`, body, service);
    if (this.answered('attach', res, false)) this.acknowledge(res.body.id, title);
  }

  async gallery(service, product) {
    const res = await this.json(
      'GET',
      `/api/v1/products/${product}/images?per_page=500`,
      null,
      service,
    );
    if (!this.answered('gallery', res, false)) return null;
    return { items: res.body.items, etag: res.headers.get('etag') };
  }

  async reorders(service, product) {
    const gallery = await this.gallery(service, product);
    if (!gallery || gallery.items.length < 2 || gallery.items.length >= 500) return;
    const ids = gallery.items.map((i) => i.id);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [ids[i], ids[j]] = [ids[j], ids[i]];
    }
    const res = await this.json(
      'PUT',
      `/api/v1/products/${product}/images/order`,
      { image_ids: ids },
      service,
      { 'if-match': gallery.etag },
    );
    this.answered('reorder', res, true);
  }

  async primaries(service, product) {
    const gallery = await this.gallery(service, product);
    if (!gallery?.items.length) return;
    const image = gallery.items[Math.floor(this.next() * gallery.items.length)];
    const path = `/api/v1/products/${product}/images/${image.id}`;
    this.answered('primary', await this.json('PATCH', path, { is_primary: true }, service), true);
  }

  async deletes(service, product) {
    const gallery = await this.gallery(service, product);
    if (!gallery || gallery.items.length < 2) return;
    const image = gallery.items[Math.floor(this.next() * gallery.items.length)];
    // A delete whose answer never came (its instance killed after the commit) may have happened:
    // such images are not counted lost if they are gone at the end.
    this.unanswered.add(image.id);
    const res = await this.json(
      'DELETE',
      `/api/v1/products/${product}/images/${image.id}`,
      null,
      service,
    );
    // A 503 from a killed connection may come after the commit: the delete may have happened.
    if (this.databaseKillAnswer(res)) return;
    this.unanswered.delete(image.id);
    if (this.answered('delete', res, true)) this.deleted.add(image.id);
  }

  async bulk(service, product) {
    const rows = Array.from({ length: 3 }, (_, i) => ({
      product_id: product,
      url: `${this.fixtureUrl}/${Math.floor(this.next() * 8)}.jpg`,
      title: this.title(`bulk ${i}`),
    }));
    const res = await this.json('POST', '/api/v1/imports', { rows }, service);
    if (this.answered('bulk import', res, false)) this.bulkImports.push(res.body.id);
  }

  /** A client that sends the head and part of an upload's body, then destroys its socket. */
  async disconnects(service, product) {
    this.faults += 1;
    const image = this.fixtures.pick(this.next);
    const form = multipartBody('image', `gone.${image.ext}`, image.type, image.bytes);
    const cut = Math.floor(form.body.length * (0.2 + this.next() * 0.6));
    await new Promise((done) => {
      const req = request(`${service.url}/api/v1/products/${product}/images`, {
        method: 'POST',
        headers: {
          ...this.headers,
          'content-type': form.contentType,
          'content-length': form.body.length,
        },
      });
      req.on('error', done);
      req.on('close', done);
      req.write(form.body.subarray(0, cut), () => setTimeout(() => req.destroy(), 20));
    });
  }

  /**
   * An upload sent whole with an Idempotency-Key whose answer is lost (the client drops the
   * connection as soon as it has sent it), then retried with the same key until answered: one
   * image must result, whichever instance each attempt reached.
   */
  async retries(service, product) {
    this.faults += 1;
    // A kill in progress or to come while this retry lasts may hold its key.
    const killsBefore = this.kills.length - (this.killing ? 1 : 0);
    const title = this.title('retry');
    const key = `soak-${title.replaceAll(' ', '-')}`;
    const image = this.fixtures.pick(this.next);
    const path = `/api/v1/products/${product}/images`;
    const form = multipartBody('image', `retry.${image.ext}`, image.type, image.bytes);
    const titled = Buffer.concat([
      Buffer.from(
        `--${form.contentType.split('boundary=')[1]}\r\nContent-Disposition: form-data; name="title"\r\n\r\n${title}\r\n`,
      ),
      form.body,
    ]);
    await new Promise((done) => {
      const req = request(`${service.url}${path}`, {
        method: 'POST',
        headers: {
          ...this.headers,
          'content-type': form.contentType,
          'content-length': titled.length,
          'idempotency-key': key,
        },
      });
      req.on('error', done);
      req.on('close', done);
      req.end(titled, () => setTimeout(() => req.destroy(), 5));
    });
    this.retriedTitles.push(title);
    for (let attempt = 0; attempt < 50; attempt++) {
      const target = this.pickService();
      if (!target) {
        await sleep(200);
        continue;
      }
      const res = await fetch(`${target.url}${path}`, {
        method: 'POST',
        headers: { ...this.headers, 'content-type': form.contentType, 'idempotency-key': key },
        body: titled,
      }).catch(() => null);
      const body = res ? await res.json().catch(() => null) : null;
      if (res?.status === 201) return this.acknowledge(body.id, title);
      if (this.databaseKillAnswer(res && { status: res.status, body })) {
        await sleep(200);
        continue;
      }
      if (res && res.status !== 409)
        return this.note(`retry: ${res.status} ${JSON.stringify(body)}`);
      await sleep(200);
    }
    // A process killed between the work's commit and recording the answer leaves the key claimed
    // until it expires (IdempotencyService): 409 is then the documented answer, and the work was
    // done at most once (checked at the end).
    if (this.kills.length > killsBefore || this.killing) this.heldByCrash += 1;
    else this.note(`retry: ${title} still in flight after 50 attempts`);
  }

  /** SIGKILL of an instance while the other's work goes on, then its restart. */
  async kill() {
    // Only the second instance is killed, at most every 30 seconds: the first runs the whole
    // soak, so that its memory, sampled from start to end, shows a leak (a restart resets it).
    const service = this.services[1];
    if (this.killing || performance.now() - (this.lastKill ?? -Infinity) < 30_000) return;
    if (!service.proc || service.proc.exited) return;
    this.lastKill = performance.now();
    this.counts.kill += 1;
    this.killing = true;
    this.faults += 1;
    try {
      await sleep(this.next() * 300);
      this.kills.push(Date.now());
      process.kill(service.pid, 'SIGKILL');
      await new Promise((done) =>
        service.proc.exited ? done() : service.proc.child.once('exit', done),
      );
      service.proc = null;
      await sleep(500);
      await this.restart(service);
    } finally {
      this.killing = false;
    }
  }

  /**
   * Every database connection of both instances terminated at once, at most every 30 seconds:
   * their pools must recover, what was in flight answer 503 database_unavailable (or succeed), and
   * an upload cut this way leave no row and at most the files the orphan sweep deletes later (the
   * checks at the end: excused only when written near such a kill).
   */
  async dbkill() {
    if (performance.now() - this.lastDbKill < 30_000) return;
    this.lastDbKill = performance.now();
    this.counts.dbkill += 1;
    this.faults += 1;
    const sql = await openSql({ url: this.databaseUrl });
    try {
      await sql.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      this.lastDbKill = performance.now();
      this.dbKills.push(Date.now());
    } finally {
      await sql.close();
    }
  }

  /**
   * Instances whose process exited without the soak killing it (an uncaught exception, say), with
   * the end of its log: what every other finding of the run may follow from.
   */
  crashes() {
    return this.services
      .filter((service) => service.proc?.exited)
      .map(
        (service) =>
          `an instance exited on its own (${service.proc.exitCode}):\n${tail(service.proc, 30)}`,
      );
  }

  /** Starts a killed instance again; one that does not come back is a finding, not a fault. */
  async restart(service) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await service.start();
      } catch (error) {
        if (attempt === 3) {
          this.note(`an instance did not start again after its kill: ${error.message}`);
          return;
        }
        await sleep(2000);
      }
    }
  }

  /**
   * Waits (a minute at most) for the bulk imports' rows to end, and counts their images as
   * acknowledged. A row whose job a killed process held stays pending until the job's lease
   * expires and another process retries it: counted, not a finding, when a kill happened.
   */
  async settle() {
    const service = this.services[0];
    const until = performance.now() + 60_000;
    for (const id of this.bulkImports) {
      while (performance.now() < until) {
        const res = await this.json('GET', `/api/v1/imports/${id}`, null, service);
        if (res.body.counts?.pending === 0) break;
        await sleep(250);
      }
      const rows = await this.json('GET', `/api/v1/imports/${id}/rows?limit=100`, null, service);
      for (const row of rows.body.items ?? []) {
        if (row.image_id) this.acknowledge(row.image_id, null);
        else if (row.status === 'pending' && this.kills.length > 0) this.pendingAfterKill += 1;
        else this.note(`bulk import row ${row.status}: ${JSON.stringify(row)}`);
      }
    }
  }
}
