import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { solidJpeg } from '../support/fixtures';
import { call, login } from '../support/http';
import { multipart } from '../support/multipart';
import { inheritedEnv, MAIN } from '../support/process';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { TEST_ADMIN } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const execFileAsync = promisify(execFile);
const CLI = MAIN.replace(/main\.js$/, 'cli.js');

const BEFORE = 'thumb:150x150:cover';
const AFTER = 'thumb:80x80:cover,card:200x200:attention';

/**
 * `npm run cli -- renditions:rebuild`, run as the compiled CLI against a database whose images
 * were made with other presets: it works the run itself (no service running), reports progress
 * on stderr and prints the run on stdout.
 */
describe('npm run cli -- renditions:rebuild', () => {
  let db: TestDatabase;
  let storage: StorageBackend;
  const env = (presets: string): Record<string, string> => ({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    ...db.env,
    ...storage.env,
    IMAGE_RENDITIONS: presets,
    JOB_POLL_INTERVAL_MS: '500',
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    storage = await startStorageBackend('local');
    const app = await createApp({
      env: { ...env(BEFORE), ADMIN_EMAIL: TEST_ADMIN.email, ADMIN_PASSWORD: TEST_ADMIN.password },
    });
    try {
      const admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
      const product = await call(app, 'POST', '/api/v1/products', admin, { name: 'Desk' });
      for (const size of [320, 480]) {
        const body = multipart({}, [
          { data: await solidJpeg(size, size), contentType: 'image/jpeg' },
        ]);
        const res = await call(
          app,
          'POST',
          `/api/v1/products/${product.json<{ id: string }>().id}/images`,
          admin,
          body.payload,
          { headers: body.headers },
        );
        expect(res.statusCode).toBe(201);
      }
    } finally {
      await app.close();
    }
  }, 120_000);

  afterAll(async () => {
    await db?.drop();
    await storage?.close();
  });

  it('re-makes the renditions, showing progress on stderr, then prints the run', async () => {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, 'renditions:rebuild'], {
      env: { ...inheritedEnv(), ...env(AFTER) },
    });

    const run = JSON.parse(stdout) as Record<string, unknown>;
    expect(run).toMatchObject({
      state: 'completed',
      trigger: 'cli',
      presets: 'card:200x200:attention,thumb:80x80:cover',
      total: 2,
      done: 2,
      failed: 0,
    });
    // Not a terminal: progress as lines, the last one the run's end.
    const lines = stderr.trim().split('\n');
    expect(lines.at(-1)).toBe(`[${'#'.repeat(30)}] 100%  2/2 done, 0 failed, completed`);
    for (const line of lines) expect(line).toMatch(/^\[[#-]{30}\] +\d+% {2}\d+\/\d+ done/);

    // The images now have the new renditions, and their files are of the new sizes.
    const check = await createApp({ env: env(AFTER) });
    try {
      const rows = await check
        .get(DataSource)
        .query<{ renditions: Record<string, { key: string }> }[]>('SELECT renditions FROM images');
      expect(rows).toHaveLength(2);
      for (const { renditions } of rows) {
        expect(Object.keys(renditions).sort()).toEqual(['card', 'thumb']);
        const thumb = await sharp(
          `${storage.env.STORAGE_LOCAL_DIR}/${renditions.thumb.key}`,
        ).metadata();
        expect([thumb.width, thumb.height]).toEqual([80, 80]);
      }
    } finally {
      await check.close();
    }
  });

  it('with nothing to re-make, completes a run of no image at once', async () => {
    const { stdout } = await execFileAsync(process.execPath, [CLI, 'renditions:rebuild'], {
      env: { ...inheritedEnv(), ...env(AFTER) },
    });
    expect(JSON.parse(stdout)).toMatchObject({ state: 'completed', total: 0, done: 0 });
  });

  it('names each image it could not re-make, and why, on stderr, and exits 1', async () => {
    // One image's original is gone from storage: it cannot be re-made.
    const app = await createApp({ env: env(AFTER) });
    let gone: { id: string; key: string };
    try {
      [gone] = await app
        .get(DataSource)
        .query<{ id: string; key: string }[]>(
          'SELECT id, storage_key AS key FROM images ORDER BY id LIMIT 1',
        );
    } finally {
      await app.close();
    }
    rmSync(join(storage.env.STORAGE_LOCAL_DIR, gone.key));
    const failed = await execFileAsync(process.execPath, [CLI, 'renditions:rebuild'], {
      env: { ...inheritedEnv(), ...env('thumb:60x60:cover') },
    }).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(JSON.parse(failed!.stdout)).toMatchObject({ total: 2, failed: 1 });
    // Once, "warning: [object Object]".
    expect(failed?.stderr).not.toContain('[object Object]');
    expect(failed?.stderr).toMatch(
      new RegExp(`warning: Renditions not re-made \\{.*"imageId":"${gone.id}"`),
    );
  });

  it('refuses options (exit 2, with the usage)', async () => {
    const refused = await execFileAsync(process.execPath, [CLI, 'renditions:rebuild', '--all'], {
      env: { ...inheritedEnv(), ...env(AFTER) },
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused?.code).toBe(2);
    expect(refused?.stderr).toContain('renditions:rebuild takes no options');
  });
});
