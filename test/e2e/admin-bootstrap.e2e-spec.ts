import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { AdminBootstrapService } from '../../src/auth/admin-bootstrap.service';
import { login } from '../support/http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { printedDuring } from '../support/stdout';

const SILENT = { NODE_ENV: 'test', LOG_LEVEL: 'silent' };

async function userCount(app: NestFastifyApplication): Promise<number> {
  const [{ n }] = await app.get(DataSource).query('SELECT count(*)::int AS n FROM users');
  return n as number;
}

describe(AdminBootstrapService.name, () => {
  let db: TestDatabase;
  beforeEach(async () => (db = await createTestDatabase()));
  afterEach(() => db.drop());

  it('with ADMIN_PASSWORD, creates the administrator at bootstrap (before any listen)', async () => {
    const app = await createApp({
      env: { ...SILENT, ...db.env, ADMIN_PASSWORD: 'a configured admin password' },
    });
    try {
      await expect(
        login(app, { username: 'admin' }, 'a configured admin password'),
      ).resolves.toBeTruthy();
    } finally {
      await app.close();
    }
  });

  it('without ADMIN_PASSWORD, creates nothing until asked, then exactly one, printed once', async () => {
    let app: NestFastifyApplication | undefined;
    const atBootstrap = await printedDuring(async () => {
      app = await createApp({ env: { ...SILENT, ...db.env } });
    });
    try {
      expect(atBootstrap).not.toContain('password');
      expect(await userCount(app!)).toBe(0);

      const bootstrap = app!.get(AdminBootstrapService);
      const printed = await printedDuring(() =>
        Promise.all([1, 2, 3].map(() => bootstrap.ensureFirstAdministrator())),
      );
      expect(printed.match(/password: /g)).toHaveLength(1);
      expect(await userCount(app!)).toBe(1);
      const password = /password: (\S+)/.exec(printed)![1];
      await expect(login(app!, { username: 'admin' }, password)).resolves.toBeTruthy();

      // Every later start calls it again: nothing more is created or printed.
      expect(await printedDuring(() => bootstrap.ensureFirstAdministrator())).toBe('');
      expect(await userCount(app!)).toBe(1);
    } finally {
      await app?.close();
    }
  });
});
