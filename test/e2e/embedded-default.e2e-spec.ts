import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { ConsoleMessage } from 'playwright-core';
import sharp from 'sharp';
import { decodeId } from '../../src/common/ids/short-id';
import { filesBelow } from '../support/accounts';
import { launchChromium } from '../support/browser';
import { eventually } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import { startImageServer } from '../support/image-server';
import { multipart } from '../support/multipart';
import { freePort, startService, waitForStatus, type RunningService } from '../support/process';

/**
 * The service as a person first meets it (issues 18 and 21): `npm start` with nothing configured.
 * `npm start` runs `exec node dist/src/main.js` once its prestart has built dist/ (the global
 * set-up did); this starts that same built file as a process of its own, in a fresh folder and
 * with no DATABASE_URL, ADMIN_PASSWORD, SERVICE_ROLE or storage setting: the embedded PostgreSQL
 * (PGlite) and the local storage under ./data, one process serving the API and running the jobs.
 * Its first administrator's password is read from what it prints, and used as a person would: in
 * the console in Chromium, then through the API, where the background jobs (a deleted image's file
 * deletion, a bulk import, a rendition rebuild after a restart with other presets) run in that
 * one process on PGlite.
 */

/** The presets after the restart: another thumbnail size, so every image is re-made. */
const OTHER_PRESETS = 'thumb:120x120:cover,card:500x500:attention,large:1200x1200:inside';
/** The queues of the work this file does, each with a completed job at the end. */
const QUEUES = [
  'file-deletion',
  'bulk-import-rows',
  'renditions-rebuild-plan',
  'renditions-rebuild',
];
/** Background work on a loaded machine: a generous deadline, never a timing assertion. */
const JOB_DEADLINE_MS = 120_000;
const TEST_TIMEOUT_MS = 240_000;

interface Rendition {
  url: string;
  width: number;
  height: number;
}
interface ImageBody {
  id: string;
  is_primary: boolean;
  title: string;
  renditions: Record<string, Rendition>;
}
interface ImportBody {
  id: string;
  state: string;
  counts: { total: number; done: number; ok: number; failed: number; pending: number };
}
interface RowBody {
  row: number;
  status: string;
  image_id: string | null;
  problem: { code: string; message: string } | null;
}
type Form = ReturnType<typeof multipart>;

interface RunBody {
  id: string;
  state: string;
  trigger: string;
  total: number;
  done: number;
  failed: number;
}
interface JobBody {
  queue: string;
  state: string;
  data: Record<string, unknown> | null;
}

/** The message of the service's start-up line (a JSON log line). */
function startUpLine(output: string): string | undefined {
  const line = output.split('\n').find((l) => l.includes('"msg":"Listening on'));
  return line ? (JSON.parse(line) as { msg: string }).msg : undefined;
}

describe('The embedded default (npm start with no database configured)', () => {
  let cwd: string;
  let base: string;
  let env: Record<string, string>;
  let imageServer: Awaited<ReturnType<typeof startImageServer>>;
  const services: RunningService[] = [];
  /** What the first start printed: the administrator's email and password. */
  let admin: { email: string; password: string };
  let token: string;
  /** What the work below left for the jobs to do, which the jobs API must show done. */
  const work = { deletedFiles: [] as string[], importId: '', startUpRunId: '' };

  const dataDir = () => join(cwd, 'data');
  const media = () => join(dataDir(), 'media');
  const stored = () => filesBelow(media()).map((file) => relative(media(), file));
  const service = () => services[services.length - 1];

  async function start(extra: Record<string, string> = {}): Promise<RunningService> {
    const started = startService({ ...env, ...extra }, cwd);
    services.push(started);
    await waitForStatus(`${base}/health/ready`, 200, 120_000);
    return started;
  }

  /** One request to the running service: a JSON body or a multipart form, as the admin. */
  async function api<T>(
    method: string,
    path: string,
    { json, form, auth = true }: { json?: unknown; form?: Form; auth?: boolean } = {},
  ): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = auth ? { authorization: `Bearer ${token}` } : {};
    let body: string | Uint8Array | undefined;
    if (form) {
      Object.assign(headers, form.headers);
      body = new Uint8Array(form.payload);
    } else if (json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(json);
    }
    const res = await fetch(`${base}${path}`, { method, headers, body });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** Logs in through the API route with the printed password. */
  async function logIn(): Promise<string> {
    const res = await api<{ access_token: string }>('POST', '/api/v1/auth/login', {
      json: admin,
      auth: false,
    });
    expect(res.status).toBe(200);
    return res.body.access_token;
  }

  async function newProduct(name: string): Promise<string> {
    const res = await api<{ id: string }>('POST', '/api/v1/products', { json: { name } });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  async function gallery(productId: string): Promise<ImageBody[]> {
    const res = await api<{ items: ImageBody[] }>('GET', `/api/v1/products/${productId}/images`);
    expect(res.status).toBe(200);
    return res.body.items;
  }

  /** Reads `path` until `done` holds of its body (a job's outcome), within the deadline. */
  async function followUntil<T>(path: string, done: (body: T) => boolean): Promise<T> {
    let last: T | undefined;
    const read = async () => {
      const res = await api<T>('GET', path);
      expect(res.status).toBe(200);
      last = res.body;
      return done(last);
    };
    try {
      await eventually(read, `${path} to finish`, JOB_DEADLINE_MS);
    } catch (error) {
      throw new Error(`${(error as Error).message}; it last answered ${JSON.stringify(last)}`);
    }
    return last!;
  }

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'pis-embedded-default-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    imageServer = await startImageServer(
      await sharp({ create: { width: 640, height: 480, channels: 3, background: '#2a7ab0' } })
        .png()
        .toBuffer(),
    );
    env = {
      // Loopback only, on a free port, instead of 0.0.0.0:3000.
      HOST: '127.0.0.1',
      PORT: String(port),
      // The test-only allowance for the bulk import's URLs: the loopback image server, and the
      // service itself, whose 404 makes a row fail on purpose.
      IMPORT_ALLOWED_PRIVATE_ORIGINS: `${new URL(imageServer.url).origin},${base}`,
    };
    await start();
  });

  afterAll(async () => {
    // Only the processes this file started, whatever failed.
    for (const { child, exit } of services) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    }
    await imageServer?.close();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('starts as role "all" on an embedded database of its own, and prints the first administrator’s password', async () => {
    // The administrator is made, and its password printed, once the service listens.
    await eventually(
      () => /password: \S+/.test(service().output()),
      'the first administrator’s password to be printed',
      60_000,
    );
    const output = service().output();
    admin = {
      email: /email: +(\S+)/.exec(output)![1],
      password: /password: (\S+)/.exec(output)![1],
    };
    expect(output).toContain('First start: an administrator was created.');
    expect(admin.email).toBe('admin@example.com');
    expect(startUpLine(output)).toMatch(
      new RegExp(`^Listening on ${base} as role "all" \\(the API and background jobs\\)`),
    );
    // The embedded database lives in the data folder, and nothing else was configured.
    expect(existsSync(join(dataDir(), 'pglite'))).toBe(true);
  }, 120_000);

  it('opens /console in Chromium, where the printed password logs in to the products view', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.setDefaultTimeout(30_000);
      const refused: string[] = [];
      const pageErrors: string[] = [];
      // Chromium reports what the Content-Security-Policy refused on the console.
      page.on('console', (message: ConsoleMessage) => {
        if (/Content.Security.Policy|Refused to/i.test(message.text()))
          refused.push(message.text());
      });
      page.on('pageerror', (error) => pageErrors.push(error.message));

      await page.goto(`${base}/console`);
      await page.getByRole('heading', { name: 'Log in to the console' }).waitFor();
      await page.getByLabel('Email or username').fill(admin.email);
      await page.getByLabel('Password').fill(admin.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
      await page.getByText('No products yet: create one.').waitFor();
      expect(page.url()).toBe(`${base}/console`);
      expect({ refused, pageErrors }).toEqual({ refused: [], pageErrors: [] });
    } finally {
      await browser.close();
    }
  }, 120_000);

  it(
    'deletes a deleted image’s files from disk in the background',
    async () => {
      token = await logIn();
      const productId = await newProduct('Desk lamp');
      const before = new Set(stored());
      const form = multipart({ title: 'Front' }, [
        { filename: 'front.jpg', contentType: 'image/jpeg', data: await solidJpeg(800, 600) },
      ]);
      const upload = await api<ImageBody>('POST', `/api/v1/products/${productId}/images`, { form });
      expect(upload.status).toBe(201);
      // The original and its renditions, under the data folder's storage.
      const files = stored().filter((key) => !before.has(key));
      work.deletedFiles = files;
      expect(files.length).toBeGreaterThanOrEqual(2);

      const deleted = await api('DELETE', `/api/v1/products/${productId}/images/${upload.body.id}`);
      expect(deleted.status).toBe(204);
      expect(await gallery(productId)).toEqual([]);
      await eventually(
        () => files.every((key) => !existsSync(join(media(), key))),
        `the deleted image's files (${files.join(', ')}) to be gone`,
        JOB_DEADLINE_MS,
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'imports images from URLs in the background: each row ok with its image or failed with its code',
    async () => {
      const productId = await newProduct('Reading chair');
      const rows = [
        { product_id: productId, url: `${imageServer.url}?n=1`, title: 'Imported 1' },
        { product_id: productId, url: `${imageServer.url}?n=2`, title: 'Imported 2' },
        { product_id: productId, url: `${base}/media/no-such-image.png`, title: 'Missing' },
        { product_id: productId, url: `${imageServer.url}?n=3`, title: 'Imported 3' },
      ];
      const accepted = await api<ImportBody>('POST', '/api/v1/imports', { json: { rows } });
      expect(accepted.status).toBe(202);
      work.importId = accepted.body.id;

      const done = await followUntil<ImportBody>(
        `/api/v1/imports/${accepted.body.id}`,
        (body) => body.state === 'completed',
      );
      expect(done.counts).toEqual({ total: 4, done: 4, ok: 3, failed: 1, pending: 0 });
      const listed = await api<{ items: RowBody[] }>(
        'GET',
        `/api/v1/imports/${accepted.body.id}/rows`,
      );
      expect(listed.status).toBe(200);
      for (const row of listed.body.items.filter((r) => r.status === 'ok')) {
        expect(row.image_id).toEqual(expect.any(String));
      }
      expect(listed.body.items.map((r) => [r.row, r.status, r.problem?.code ?? null])).toEqual([
        [1, 'ok', null],
        [2, 'ok', null],
        [3, 'failed', 'image_url_unreachable'],
        [4, 'ok', null],
      ]);

      const images = await gallery(productId);
      expect(images.map((i) => i.id).sort()).toEqual(
        listed.body.items
          .filter((r) => r.status === 'ok')
          .map((r) => r.image_id)
          .sort(),
      );
      expect(images.filter((i) => i.is_primary)).toHaveLength(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'after a restart with other rendition presets, re-makes the renditions, followed through the progress route',
    async () => {
      // Stopped as a person stops it (Ctrl-C is SIGINT, a process manager's SIGTERM the same path).
      const first = service();
      first.child.kill('SIGTERM');
      expect(await first.exit).toEqual({ code: 0, signal: null });

      const second = await start({ IMAGE_RENDITIONS: OTHER_PRESETS });
      // The same database: the printed password still logs in.
      token = await logIn();
      const started = await api<RunBody>('POST', '/api/v1/renditions/rebuilds');
      expect(started.status).toBe(202);
      // The run under way (the one this start began) or, were it over already, a new one.
      const run = await followUntil<RunBody>(
        `/api/v1/renditions/rebuilds/${started.body.id}`,
        (body) => body.state === 'completed',
      );
      expect(run.done).toBe(run.total);
      expect(run.failed).toBe(0);

      // The run this start began re-made the three imported images.
      const runs = await api<{ items: RunBody[] }>('GET', '/api/v1/renditions/rebuilds');
      const atStartUp = runs.body.items.find((r) => r.trigger === 'start-up')!;
      work.startUpRunId = atStartUp.id;
      const finished = await followUntil<RunBody>(
        `/api/v1/renditions/rebuilds/${atStartUp.id}`,
        (body) => body.state === 'completed',
      );
      expect(finished).toMatchObject({ total: 3, done: 3, failed: 0 });
      const products = await api<{ items: { id: string }[] }>('GET', '/api/v1/products');
      const thumbs = [];
      for (const product of products.body.items) {
        for (const image of await gallery(product.id)) thumbs.push(image.renditions.thumb);
      }
      expect(thumbs).toEqual(Array(3).fill(expect.objectContaining({ width: 120, height: 120 })));
      // The password is printed by the first start only.
      expect(second.output()).not.toMatch(/password: /);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'lists the completed jobs of that work to the admin',
    async () => {
      const completed: Record<string, JobBody[]> = {};
      for (const queue of QUEUES) {
        const res = await api<{ items: JobBody[] }>(
          'GET',
          `/api/v1/jobs?queue=${queue}&state=completed&limit=100`,
        );
        expect(res.status).toBe(200);
        for (const job of res.body.items) expect(job).toMatchObject({ queue, state: 'completed' });
        completed[queue] = res.body.items;
      }
      const data = (queue: string) => completed[queue].map((job) => job.data ?? {});
      const deletedKeys = data('file-deletion').flatMap((d) => (d.keys as string[]) ?? []);
      expect(work.deletedFiles.filter((key) => !deletedKeys.includes(key))).toEqual([]);
      const importIds = data('bulk-import-rows').map((d) => d.import_id);
      expect(importIds).toContain(decodeId(work.importId));
      const runIds = data('renditions-rebuild-plan').map((d) => d.runId);
      expect(runIds).toContain(decodeId(work.startUpRunId));
      const rebuilt = data('renditions-rebuild').filter(
        (d) => d.runId === decodeId(work.startUpRunId),
      );
      expect(rebuilt).toHaveLength(3);
    },
    TEST_TIMEOUT_MS,
  );
});
