import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { call, login } from '../support/http';
import { startTestApp, TEST_ADMIN } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';
import { createApp } from '../../src/app.factory';

describe('A client that aborts an upload', () => {
  it('leaves no temporary file, no stored file and no row', async () => {
    const t = await startTestApp();
    try {
      const token = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
      const product = (
        await call(t.app, 'POST', '/api/v1/products', { bearer: token }, { name: 'Aborted' })
      ).json();
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = t.app.getHttpServer().address() as { port: number };
      const tmpDir = join(t.db.env.DATA_DIR, 'tmp', 'uploads');

      const boundary = 'abortboundary';
      const head =
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n` +
        'Content-Type: image/jpeg\r\n\r\n';
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write(
        `POST /api/v1/products/${product.id}/images HTTP/1.1\r\nHost: x\r\n` +
          `Authorization: Bearer ${token}\r\n` +
          `Content-Type: multipart/form-data; boundary=${boundary}\r\n` +
          `Content-Length: ${head.length + 5_000_000}\r\n\r\n${head}`,
      );
      socket.write(Buffer.alloc(256 * 1024, 0xff));
      // The server is spooling the file: then the client goes away mid-body.
      await eventually(() => filesBelow(tmpDir).length > 0, 'the upload to be spooled');
      socket.destroy();

      await eventually(() => filesBelow(tmpDir).length === 0, 'the spooled file to be removed');
      const images = (
        await call(t.app, 'GET', `/api/v1/products/${product.id}`, { bearer: token })
      ).json();
      expect(images.image_count).toBe(0);
      expect(filesBelow(join(t.db.env.DATA_DIR, 'media', 'products'))).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('Start-up', () => {
  it('removes stale upload spool files left by a crash, and keeps recent ones', async () => {
    const db = await createTestDatabase();
    const spool = join(db.env.DATA_DIR, 'tmp', 'uploads');
    mkdirSync(spool, { recursive: true });
    const stale = join(spool, 'crashed.upload');
    const recent = join(spool, 'in-flight-elsewhere.upload');
    writeFileSync(stale, 'left by a crash');
    writeFileSync(recent, 'another instance is writing this');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    const app = await createApp({ env: { NODE_ENV: 'test', LOG_LEVEL: 'silent', ...db.env } });
    try {
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(recent)).toBe(true);
    } finally {
      await app.close();
      await db.drop();
    }
  });
});
