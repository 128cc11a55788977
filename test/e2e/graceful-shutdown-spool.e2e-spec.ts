import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import {
  freePort,
  isRunning,
  postJsonOverHttp,
  SERVICE_TEST_TIMEOUT_MS,
  startService,
  waitForStatus,
} from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

jest.setTimeout(SERVICE_TEST_TIMEOUT_MS);

/**
 * A graceful shutdown (SIGTERM, finished within SHUTDOWN_TIMEOUT_MS, exit 0) that hands a running
 * bulk-import job back to its queue: the image that job was downloading into the upload spool
 * must go with it. Each restart of an instance busy importing left up to JOB_CONCURRENCY such
 * files (an image each, up to MAX_UPLOAD_BYTES) for the hourly sweep, which only the forced exit
 * removed.
 */
describe('A graceful shutdown during a bulk import', () => {
  let cwd: string;
  let db: TestDatabase;
  let images: http.Server;
  const held = new Set<http.ServerResponse>();

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'pis-graceful-'));
    db = await createTestDatabase();
    const jpeg = await solidJpeg(640, 480);
    // Sends the first half of the image, then nothing: the import's download stays under way.
    images = http.createServer((_req, res) => {
      held.add(res);
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
      res.write(jpeg.subarray(0, jpeg.length >> 1));
    });
    await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    for (const res of held) res.destroy();
    await new Promise((resolve) => images.close(resolve));
    await db.drop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('removes the spool file of the download it interrupts, and exits 0', async () => {
    const port = await freePort();
    const imagePort = (images.address() as AddressInfo).port;
    const admin = { email: 'graceful-admin@test.example', password: 'graceful-admin-password' };
    const service = startService(
      {
        ...db.env,
        NODE_ENV: 'test',
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        ADMIN_EMAIL: admin.email,
        ADMIN_PASSWORD: admin.password,
        IMPORT_ALLOW_PRIVATE_NETWORKS: 'true',
        IMPORT_ALLOWED_PORTS: String(imagePort),
        IMPORT_TIMEOUT_MS: '120000',
        SHUTDOWN_TIMEOUT_MS: '8000',
      },
      cwd,
    );
    const spool = join(db.env.DATA_DIR, 'tmp', 'uploads');
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitForStatus(`${base}/health/ready`, 200);
      await eventually(
        () => service.output().includes('Created the first administrator'),
        'the first administrator',
      );
      const json = (path: string, body: unknown, token?: string) =>
        postJsonOverHttp(base, path, body, token);
      const token = (await json('/api/v1/auth/login', admin)).access_token;
      const product = (await json('/api/v1/products', { name: 'Imported' }, token)).id;
      const url = `http://127.0.0.1:${imagePort}/a.jpg`;
      const accepted = await json(
        '/api/v1/imports',
        { rows: [{ product_id: product, url }] },
        token,
      );
      expect(accepted.state).toBeDefined();
      await eventually(() => filesBelow(spool).length === 1, 'the download to be spooled');

      service.child.kill('SIGTERM');
      expect(await service.exit).toEqual({ code: 0, signal: null });
    } finally {
      if (isRunning(service.child.pid!)) service.child.kill('SIGKILL');
      await service.exit;
    }
    expect(filesBelow(spool)).toEqual([]);
  });
});
