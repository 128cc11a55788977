import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp, type CreateAppOptions } from '../../src/app.factory';
import { createTestDatabase, type TestDatabase } from './test-database';
import { recordOpenApiResponses } from './openapi-recorder';

/** The first administrator every test app starts with (organisation "default"). */
export const TEST_ADMIN = { email: 'admin@test.example', password: 'admin-password-for-tests' };

export interface TestApp {
  app: NestFastifyApplication;
  db: TestDatabase;
  close(): Promise<void>;
}

/** The environment of a test app on `db`: quiet, with TEST_ADMIN, and `env` over it. */
export function testAppEnv(
  db: TestDatabase,
  env: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    ADMIN_EMAIL: TEST_ADMIN.email,
    ADMIN_PASSWORD: TEST_ADMIN.password,
    ...db.env,
    ...env,
  };
}

/** The real application on a fresh database, configured only by the variables given here. */
export async function startTestApp(
  env: Record<string, string> = {},
  options: Omit<CreateAppOptions, 'env'> = {},
): Promise<TestApp> {
  const db = await createTestDatabase();
  let app: NestFastifyApplication;
  try {
    app = await createApp({ ...options, env: testAppEnv(db, env) });
  } catch (error) {
    // createApp closed what it had opened; the database is ours to drop.
    await db.drop();
    throw error;
  }
  recordOpenApiResponses(app);
  return {
    app,
    db,
    close: async () => {
      await app.close();
      await db.drop();
    },
  };
}
