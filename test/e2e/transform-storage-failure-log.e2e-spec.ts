import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { StorageError, type StorageProvider } from '../../src/storage/storage-provider';
import { noisyPng } from '../support/fixtures';
import { call, login, uploadToNewProduct, type Credential } from '../support/http';
import { PUBLIC_BASE, startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { transformSignature } from '../support/transform-signature';

const KEY = 'failure-log-signing-key-0123456789abcdef';

/**
 * A transform URL whose storage fails is answered 502 storage_unavailable, and, as an upload's
 * storage failure is, its cause is logged with the keys involved (a warning): without them the
 * operator has a count of 502s and nothing to tell a timeout from a refusal, nor which object.
 */
describe('A transform result the storage fails', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let failing = false;

  const wrap = <P extends StorageProvider>(provider: P): P => {
    const read = async (key: string) => {
      if (failing) {
        throw new StorageError('Reading failed', { cause: new Error('connect ETIMEDOUT') });
      }
      return provider.read!(key);
    };
    return new Proxy(provider, {
      get: (target, property) =>
        property === 'read' ? read : (Reflect.get(target, property, target) as unknown),
    });
  };

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    t = await startTestApp(
      { ...backend.env, PUBLIC_BASE_URL: PUBLIC_BASE, DELIVERY_SIGNING_KEYS: KEY },
      { wrapStorage: wrap },
    );
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  it('answers 502 and logs the cause with the keys', async () => {
    const { id } = await uploadToNewProduct(
      app,
      admin,
      await noisyPng(300, 200),
      'Down',
      'image/png',
    );
    const options = 'w_100,h_80,f_webp';
    const warn = jest.spyOn(Logger.prototype, 'warn');
    failing = true;
    try {
      const res = await call(
        app,
        'GET',
        `/transform/${transformSignature(KEY, options, id)}/${options}/${id}`,
      );
      expect(res.statusCode).toBe(502);
      expect(res.json()).toMatchObject({ code: 'storage_unavailable' });
      const logged = warn.mock.calls.filter(
        ([, message]) => message === 'Transform storage failed',
      );
      expect(logged).toHaveLength(1);
      const [fields] = logged[0] as [Record<string, unknown>];
      expect(fields).toMatchObject({
        err: { name: 'Error', message: 'connect ETIMEDOUT' },
        key: expect.stringMatching(new RegExp(`^derived/[0-9a-f-]{36}/.+\\.webp$`)),
        original: expect.stringMatching(/^products\/[0-9a-f-]{36}\/[0-9a-f-]{36}\/original\./),
      });
    } finally {
      failing = false;
      warn.mockRestore();
    }
  });
});
