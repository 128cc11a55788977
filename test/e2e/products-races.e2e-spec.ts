import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { Role, Scope } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { addUser, filesBelow, otherOrganisationAdmin } from '../support/accounts';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

describe('Products: lists and deletions while other requests run', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let db: DataSource;
  const c: Record<string, Credential> = {};

  const create = (body: object, as = c.staff) => call(app, 'POST', '/api/v1/products', as, body);

  async function upload(productId: string) {
    const body = multipart({}, [{ data: await solidJpeg(), contentType: 'image/jpeg' }]);
    return call(app, 'POST', `/api/v1/products/${productId}/images`, c.staff, body.payload, {
      headers: body.headers,
    });
  }

  beforeAll(async () => {
    t = await startTestApp();
    app = t.app;
    db = app.get(DataSource);
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'sam', Role.Staff);
    c.other = await otherOrganisationAdmin(app, 'elsewhere', 'else');
  });
  afterAll(() => t.close());

  it('leaves no image row and no file of a product deleted while images are uploaded to it', async () => {
    const media = join(t.db.env.DATA_DIR, 'media');
    // From before the first upload is processed to after some have joined the gallery.
    for (const delayMs of [0, 60, 120, 180, 250]) {
      const p = (await create({ name: 'Doomed' })).json();
      const uploads = Array.from({ length: 4 }, () => upload(p.id));
      await sleep(delayMs);
      const deleted = await call(app, 'DELETE', `/api/v1/products/${p.id}`, c.staff);
      expect(deleted.statusCode).toBe(204);
      for (const res of await Promise.all(uploads)) {
        // Before the delete: 201 (and the delete took the image); after: 404.
        expect([201, 404]).toContain(res.statusCode);
      }
      const uuid = decodeId(p.id);
      const [{ n }] = await db.query(
        'SELECT count(*)::int AS n FROM images WHERE product_id = $1',
        [uuid],
      );
      expect(n).toBe(0);
      await eventually(
        async () => (await pendingFileDeletions(db)).length === 0,
        'the file deletions to run',
      );
      expect(filesBelow(join(media, 'products', String(uuid)))).toEqual([]);
    }
    expect(filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'))).toEqual([]);
  });

  it('pages through products sharing one creation time, each once, while others are created, renamed and deleted', async () => {
    const made: string[] = [];
    for (let i = 0; i < 8; i++) made.push((await create({ name: `Tied ${i}` })).json().id);
    // One creation time for all: only the id orders them.
    await db.query(
      `UPDATE products SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = ANY($1::uuid[])`,
      [made.map((id) => decodeId(id))],
    );
    const deleted = new Set<string>();
    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const res = await call(app, 'GET', `/api/v1/products?limit=2${query}`, c.staff);
      expect(res.statusCode).toBe(200);
      const body = res.json<{ items: { id: string }[]; next_cursor: string | null }>();
      seen.push(...body.items.map((item) => item.id));
      cursor = body.next_cursor;
      // Between pages: a new product, a rename, and a deletion of one not listed yet.
      await create({ name: `Meanwhile ${page}` });
      const unseen = made.filter((id) => !seen.includes(id) && !deleted.has(id));
      if (unseen.length > 0) {
        await call(app, 'PATCH', `/api/v1/products/${unseen[0]}`, c.staff, { name: 'Renamed' });
      }
      if (page === 1 && unseen.length > 1) {
        const gone = unseen[unseen.length - 1];
        expect((await call(app, 'DELETE', `/api/v1/products/${gone}`, c.staff)).statusCode).toBe(
          204,
        );
        deleted.add(gone);
      }
      page++;
      // A cursor that does not move on would page for ever.
      expect(page).toBeLessThan(20);
    } while (cursor);
    const listed = seen.filter((id) => made.includes(id));
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(made.filter((id) => !deleted.has(id)).sort());
  });

  it('matches filters exactly: % _ and \\ are characters, not patterns', async () => {
    for (const externalId of ['a%_\\b', 'aX_\\b', 'aXY\\b', 'aXYb']) {
      expect((await create({ name: 'Literal', external_id: externalId })).statusCode).toBe(201);
    }
    const ids = async (value: string) => {
      const query = `external_id=${encodeURIComponent(value)}&limit=100`;
      const res = await call(app, 'GET', `/api/v1/products?${query}`, c.staff);
      expect(res.statusCode).toBe(200);
      return res.json().items.map((p: { external_id: string }) => p.external_id);
    };
    expect(await ids('a%_\\b')).toEqual(['a%_\\b']);
    expect(await ids('a%')).toEqual([]);
    expect(await ids('a__\\b')).toEqual([]);
    const byPath = await call(
      app,
      'GET',
      `/api/v1/products/by-external-id/${encodeURIComponent('a%_\\b')}`,
      c.staff,
    );
    expect(byPath.json()).toMatchObject({ external_id: 'a%_\\b' });
  });

  it("shows nothing of another organisation's products through its cursor", async () => {
    for (let i = 0; i < 3; i++) await create({ name: `Ours ${i}` });
    const ours = await call(app, 'GET', '/api/v1/products?limit=1', c.staff);
    const cursor = ours.json().next_cursor as string;
    expect(cursor).toEqual(expect.any(String));
    await call(app, 'POST', '/api/v1/products', c.other, { name: 'Theirs' });
    const theirs = await call(app, 'GET', `/api/v1/products?limit=100&cursor=${cursor}`, c.other);
    // Either refused, or a page of the other organisation's products only.
    if (theirs.statusCode === 200) {
      const all = await call(app, 'GET', '/api/v1/products?limit=100', c.other);
      const allowed = new Set(all.json().items.map((p: { id: string }) => p.id));
      for (const item of theirs.json().items) expect(allowed.has(item.id)).toBe(true);
    } else {
      expect(theirs.statusCode).toBe(400);
    }
  });

  it('lets no key of the user role write, and no key act once revoked', async () => {
    const p = (await create({ name: 'Guarded' })).json();
    const refused = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
      name: 'viewer',
      role: Role.User,
      scopes: [Scope.ProductsRead, Scope.ProductsWrite],
    });
    expect(refused.statusCode).toBe(400);
    const made = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
      name: 'viewer',
      role: Role.User,
    });
    expect(made.statusCode).toBe(201);
    const viewer = { apiKey: made.json().key as string };
    expect((await call(app, 'GET', `/api/v1/products/${p.id}`, viewer)).statusCode).toBe(200);
    expect((await create({ name: 'No' }, viewer)).statusCode).toBe(403);
    expect(
      (await call(app, 'PATCH', `/api/v1/products/${p.id}`, viewer, { name: 'No' })).statusCode,
    ).toBe(403);
    expect((await call(app, 'DELETE', `/api/v1/products/${p.id}`, viewer)).statusCode).toBe(403);

    const writer = await call(app, 'POST', '/api/v1/api-keys', c.admin, { name: 'writer' });
    const key = { apiKey: writer.json().key as string };
    expect((await create({ name: 'Before' }, key)).statusCode).toBe(201);
    expect(
      (await call(app, 'DELETE', `/api/v1/api-keys/${writer.json().id}`, c.admin)).statusCode,
    ).toBe(204);
    expect((await create({ name: 'After' }, key)).statusCode).toBe(401);
    expect((await call(app, 'GET', `/api/v1/products/${p.id}`, key)).statusCode).toBe(401);
  });
});
