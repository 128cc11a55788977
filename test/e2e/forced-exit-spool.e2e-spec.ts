import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { removeLiveSpoolFiles } from '../../src/images/intake/upload-spool';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { noisyPng } from '../support/fixtures';
import { call, login } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

jest.setTimeout(60_000);

/**
 * What a forced exit (SHUTDOWN_TIMEOUT_MS run out, a second signal, an uncaught exception) removes
 * of the upload spool: removeLiveSpoolFiles(), which main.ts calls just before process.exit, must
 * remove every temporary file of the requests in flight, as its documentation says, not only
 * those of multipart uploads and data URIs.
 */
describe('A forced exit during a URL import', () => {
  let t: TestApp;
  let server: http.Server;
  let url: string;
  const stalled: http.ServerResponse[] = [];

  beforeAll(async () => {
    const png = await noisyPng(300, 200);
    // Answers the head and half the bytes of the image, then nothing more.
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(png.length) });
      res.write(png.subarray(0, png.length >> 1));
      stalled.push(res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/product.png`;
    t = await startTestApp({
      IMPORT_ALLOWED_PRIVATE_ORIGINS: new URL(url).origin,
      IMPORT_TIMEOUT_MS: '20000',
    });
  });

  afterAll(async () => {
    for (const res of stalled) res.destroy();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await t?.close();
  });

  it("removes the import's temporary file, as it does an upload's", async () => {
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const product = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Cut import' });
    const spool = join(t.db.env.DATA_DIR, 'tmp', 'uploads');
    const answer = call(
      t.app,
      'PUT',
      `/api/v1/products/${product.json<{ id: string }>().id}/image`,
      admin,
      {
        image: url,
      },
    );
    await eventually(() => filesBelow(spool).length === 1, 'the import to be spooled');

    // What main.ts runs just before a forced exit.
    const { files } = removeLiveSpoolFiles();

    expect(files).toBe(1);
    expect(filesBelow(spool)).toEqual([]);
    for (const res of stalled) res.destroy();
    await answer;
  });
});
