import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { blockedBackend, holdLock } from '../support/db-faults';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * An upload whose work committed but whose answer then failed with a 5xx (here: the read of the
 * uploader that builds the answer runs past DATABASE_STATEMENT_TIMEOUT_MS, a lock held on
 * `users`). The key is not let go, as it is after a 5xx that kept nothing: a retry with it, as
 * the 503 invites, would make a second image. Retries get 409 idempotent_answer_lost instead.
 */
jest.setTimeout(60_000);

const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

onServer('Idempotency-Key: a 5xx after the work committed', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;

  beforeAll(async () => {
    t = await startTestApp({ DATABASE_STATEMENT_TIMEOUT_MS: '1500' });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await t?.close();
  });

  it('is recorded as 409 idempotent_answer_lost, and the image is not made twice', async () => {
    const created = await call(app, 'POST', '/api/v1/products', admin, { name: 'Once' });
    const productId = created.json<{ id: string }>().id;
    const jpeg = await solidJpeg(96, 64);
    const key = randomUUID();
    const send = () => {
      const body = multipart({ title: 'once' }, [{ data: jpeg, contentType: 'image/jpeg' }]);
      return call(app, 'POST', `/api/v1/products/${productId}/images`, admin, body.payload, {
        headers: { ...body.headers, 'idempotency-key': key },
      });
    };

    // The upload's transaction is held at its INSERT, after it took its FOR KEY SHARE on the
    // uploader; a lock on `users` is queued behind it, so that it is granted at the commit and
    // the answer's read of the uploader waits past the statement timeout.
    const images = await holdLock(t.db.url!, 'LOCK TABLE images IN SHARE MODE');
    const users = new Client({ connectionString: t.db.url });
    await users.connect();
    let first;
    try {
      const answer = send();
      await blockedBackend(t.db.url!, /^INSERT INTO "images"/);
      await users.query('BEGIN');
      const usersLocked = users.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
      await blockedBackend(t.db.url!, /^LOCK TABLE users/);
      await images.release();
      await usersLocked;
      first = await answer;
    } finally {
      await images.release();
      await users.query('ROLLBACK').catch(() => undefined);
      await users.end();
    }
    expect(first.json()).toMatchObject({ status: 503, code: 'database_unavailable' });

    for (const retried of [await send(), await send()]) {
      expect(retried.json()).toMatchObject({
        status: 409,
        code: 'idempotent_answer_lost',
        request_id: first.headers['x-request-id'],
      });
      expect(retried.headers['retry-after']).toBeUndefined();
    }
    const [{ n }] = await app
      .get(DataSource)
      .query<{ n: number }[]>(`SELECT count(*)::int AS n FROM images WHERE title = 'once'`);
    expect(n).toBe(1);
  });
});
