import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { JwtService } from '@nestjs/jwt';
import jwt from 'jsonwebtoken';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { filesBelow, TEST_PASSWORD } from '../support/accounts';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipartBody, RawClient, requestHead } from '../support/slow-client';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { SLOW_BODY_MS } from '../../src/auth/pre-body-auth.hook';

/**
 * An upload may stream for as long as HTTP_REQUEST_TIMEOUT_MS. A key revoked, a user disabled,
 * logged out or demoted while its body arrives stops it once the body is in, before anything is
 * made of it: the caller is asked again, as it is now, as the next request would be. Nothing is
 * left: no row, no stored file, no spooled file. So for a data-URI import whose JSON body was slow
 * to come, and for a CSV bulk import. A token that only expired meanwhile stops nothing: the
 * caller, asked again, is as they were when the upload was admitted.
 */
describe('A credential that changes while its upload streams', () => {
  let t: TestApp;
  let port: number;
  let admin: Credential;
  let productId: string;
  let jpeg: Buffer;

  beforeAll(async () => {
    t = await startTestApp();
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const product = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Streamed' });
    productId = product.json<{ id: string }>().id;
    jpeg = await solidJpeg(64, 48);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });
  afterAll(() => t?.close());

  let users = 0;
  /** A staff user of the organisation, logged in: their id and their token. */
  async function staffUser(): Promise<{ id: string; headers: Record<string, string> }> {
    const username = `streamer${++users}`;
    const created = await call(t.app, 'POST', '/api/v1/users', admin, {
      email: `${username}@test.example`,
      username,
      password: TEST_PASSWORD,
      role: Role.Staff,
    });
    expect(created.statusCode).toBe(201);
    const bearer = await login(t.app, { username }, TEST_PASSWORD);
    return {
      id: created.json<{ id: string }>().id,
      headers: { authorization: `Bearer ${bearer}` },
    };
  }

  async function apiKey(
    role = Role.Staff,
  ): Promise<{ id: string; headers: Record<string, string> }> {
    const created = await call(t.app, 'POST', '/api/v1/api-keys', admin, {
      name: 'streamer',
      role,
    });
    expect(created.statusCode).toBe(201);
    const { id, key } = created.json<{ id: string; key: string }>();
    return { id, headers: { 'x-api-key': key } };
  }

  const imageRows = async (): Promise<number> => {
    const [{ n }] = await t.app
      .get(DataSource)
      .query<{ n: number }[]>('SELECT count(*)::int AS n FROM images WHERE product_id = $1', [
        decodeId(productId),
      ]);
    return n;
  };
  const storedFiles = () => filesBelow(join(t.db.env.DATA_DIR, 'media'));
  const spooled = () => filesBelow(join(t.db.env.DATA_DIR, 'tmp'));

  /** A request whose body is sent in two goes, `meanwhile` between them. */
  interface Sent {
    method?: string;
    path?: string;
    contentType?: string;
    body?: Buffer;
    /** How long the body takes (at least) before `meanwhile`. */
    pauseMs?: number;
  }

  /**
   * Sends the request's head and most of its body (by default a multipart upload to the
   * gallery), runs `meanwhile`, then sends the rest: the answer.
   */
  async function uploadAround(
    headers: Record<string, string>,
    meanwhile: () => Promise<void>,
    sent: Sent = {},
  ) {
    const upload = multipartBody(jpeg, { title: 'Streamed' });
    const { contentType = upload.contentType, body = upload.body } = sent;
    const head = requestHead(
      sent.method ?? 'POST',
      sent.path ?? `/api/v1/products/${productId}/images`,
      { 'content-type': contentType, ...headers },
      body.length,
    );
    const client = await RawClient.connect(port);
    try {
      await client.write(head);
      await client.write(body.subarray(0, body.length - 10));
      await sleep(sent.pauseMs ?? 100);
      expect(client.answer()).toBeUndefined();
      await meanwhile();
      await client.write(body.subarray(body.length - 10));
      const answer = await client.answered(30_000);
      expect(answer).toBeDefined();
      return { status: answer!.status, body: JSON.parse(answer!.body) as Record<string, unknown> };
    } finally {
      client.destroy();
    }
  }

  async function expectNothingLeft(rowsBefore: number, filesBefore: string[]): Promise<void> {
    expect(await imageRows()).toBe(rowsBefore);
    expect(storedFiles()).toEqual(filesBefore);
    for (let i = 0; i < 50 && spooled().length > 0; i++) await sleep(100);
    expect(spooled()).toEqual([]);
  }

  it('stores the upload when nothing changed (the control)', async () => {
    const key = await apiKey();
    const before = await imageRows();
    const answer = await uploadAround(key.headers, async () => {});
    expect(answer.status).toBe(201);
    expect(await imageRows()).toBe(before + 1);
  });

  it.each([
    [
      'its API key is revoked',
      apiKey,
      (id: string) => call(t.app, 'DELETE', `/api/v1/api-keys/${id}`, admin),
      401,
      'invalid_api_key',
    ],
    [
      'its user is disabled',
      staffUser,
      (id: string) => call(t.app, 'PATCH', `/api/v1/users/${id}`, admin, { disabled: true }),
      401,
      'invalid_token',
    ],
    [
      'its user is deleted',
      staffUser,
      (id: string) => call(t.app, 'DELETE', `/api/v1/users/${id}`, admin),
      401,
      'invalid_token',
    ],
    [
      'its user is demoted to a plain user',
      staffUser,
      (id: string) => call(t.app, 'PATCH', `/api/v1/users/${id}`, admin, { role: Role.User }),
      403,
      'insufficient_role',
    ],
  ])('refuses it when %s meanwhile, leaving nothing', async (_case, make, change, status, code) => {
    const caller = await make();
    const [rowsBefore, filesBefore] = [await imageRows(), storedFiles()];
    const answer = await uploadAround(caller.headers, async () => {
      const changed = await change(caller.id);
      expect(changed.statusCode).toBeLessThan(300);
    });
    expect([answer.status, answer.body.code]).toEqual([status, code]);
    await expectNothingLeft(rowsBefore, filesBefore);
  });

  it('stores uploads whose token expired while their body came: they were admitted before', async () => {
    // The admin's token signed anew to have expired 28 s ago: accepted within
    // JWT_CLOCK_TOLERANCE_SECONDS (30 s by default), refused from 2 s later. Made at the start of
    // a second, so that the 28 s are not 29 when it is sent.
    const claims = jwt.decode((admin as { bearer: string }).bearer) as Record<string, unknown>;
    await sleep(1005 - (Date.now() % 1000));
    const now = Math.floor(Date.now() / 1000);
    const { sub, org, gen } = claims;
    const token = t.app.get(JwtService).sign({ sub, org, gen, iat: now - 60, exp: now - 28 });
    const headers = { authorization: `Bearer ${token}` };
    const me = () => t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers });
    expect((await me()).statusCode).toBe(200);
    const expiredMeanwhile = async () => {
      const answer = await me();
      expect([answer.statusCode, answer.json<{ code: string }>().code]).toEqual([
        401,
        'invalid_token',
      ]);
    };

    const made = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Expiring' });
    const id = made.json<{ id: string }>().id;
    const before = await imageRows();
    const [upload, imported] = await Promise.all([
      // A multipart upload, asked again by its pipe once read.
      uploadAround(headers, expiredMeanwhile, { pauseMs: 3200 }),
      // A JSON body over SLOW_BODY_MS, asked again before its handler.
      uploadAround(headers, expiredMeanwhile, {
        method: 'PUT',
        path: `/api/v1/products/${id}/image`,
        contentType: 'application/json',
        body: Buffer.from(
          JSON.stringify({ image: `data:image/jpeg;base64,${jpeg.toString('base64')}` }),
        ),
        pauseMs: 3200,
      }),
    ]);
    // Asked again, the caller is as it was (not disabled, not logged out): the token's expiry
    // refuses new requests, not one admitted before it.
    expect([upload.status, imported.status]).toEqual([201, 200]);
    expect(await imageRows()).toBe(before + 1);
    const product = await call(t.app, 'GET', `/api/v1/products/${id}`, admin);
    expect(product.json()).toMatchObject({ image_count: 1 });
  });

  it('refuses it when its user logs out meanwhile', async () => {
    const user = await staffUser();
    const [rowsBefore, filesBefore] = [await imageRows(), storedFiles()];
    const answer = await uploadAround(user.headers, async () => {
      const out = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: user.headers,
      });
      expect(out.statusCode).toBe(204);
    });
    expect([answer.status, answer.body.code]).toEqual([401, 'invalid_token']);
    await expectNothingLeft(rowsBefore, filesBefore);
  });

  it('refuses a data-URI import whose slow body outlived its key, storing nothing', async () => {
    const key = await apiKey(Role.Admin);
    const made = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Data URI' });
    const path = `/api/v1/products/${made.json<{ id: string }>().id}/image`;
    const body = Buffer.from(
      JSON.stringify({ image: `data:image/jpeg;base64,${jpeg.toString('base64')}` }),
    );
    const [rowsBefore, filesBefore] = [await imageRows(), storedFiles()];
    const answer = await uploadAround(
      key.headers,
      async () => {
        expect((await call(t.app, 'DELETE', `/api/v1/api-keys/${key.id}`, admin)).statusCode).toBe(
          204,
        );
      },
      // Over SLOW_BODY_MS: a body that came at once is not asked again.
      { method: 'PUT', path, contentType: 'application/json', body, pauseMs: SLOW_BODY_MS + 200 },
    );
    expect([answer.status, answer.body.code]).toEqual([401, 'invalid_api_key']);
    await expectNothingLeft(rowsBefore, filesBefore);
    const product = await call(
      t.app,
      'GET',
      `/api/v1/products/${made.json<{ id: string }>().id}`,
      admin,
    );
    expect(product.json()).toMatchObject({ image: null, image_count: 0 });
  });

  it('refuses a CSV bulk import whose body outlived its key, making no import', async () => {
    const key = await apiKey(Role.Admin);
    const imports = async () =>
      (
        await t.app.get(DataSource).query<{ n: number }[]>('SELECT count(*)::int AS n FROM imports')
      )[0].n;
    const before = await imports();
    const csv = Buffer.from(`product_id,url\n${productId},https://images.example.com/a.jpg\n`);
    const answer = await uploadAround(
      key.headers,
      async () => {
        expect((await call(t.app, 'DELETE', `/api/v1/api-keys/${key.id}`, admin)).statusCode).toBe(
          204,
        );
      },
      { path: '/api/v1/imports', contentType: 'text/csv', body: csv },
    );
    expect([answer.status, answer.body.code]).toEqual([401, 'invalid_api_key']);
    expect(await imports()).toBe(before);
  });
});
