import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { Role, Scope } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { ProductsRepository } from '../../src/products/products.repository';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { addUser, otherOrganisationAdmin } from '../support/accounts';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

describe('Products', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  const c: Record<string, Credential> = {};

  const create = (body: object, as = c.staff) => call(app, 'POST', '/api/v1/products', as, body);

  /** An image uploaded to the product by the staff member: 201. */
  /** Uploads a JPEG to the gallery of `productId`, with `fields`; returns the image's body. */
  async function uploadTo(
    productId: string,
    fields: Record<string, string> = {},
  ): Promise<{
    id: string;
    url: string;
    width: number;
    height: number;
    renditions: Record<string, { url: string }>;
  }> {
    const body = multipart(fields, [{ data: await solidJpeg(), contentType: 'image/jpeg' }]);
    const res = await call(
      app,
      'POST',
      `/api/v1/products/${productId}/images`,
      c.staff,
      body.payload,
      { headers: body.headers },
    );
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  beforeAll(async () => {
    t = await startTestApp();
    app = t.app;
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'sam', Role.Staff);
    c.user = await addUser(app, c.admin, 'una', Role.User);
    c.other = await otherOrganisationAdmin(app, 'elsewhere', 'else');
  });
  afterAll(() => t.close());

  it('creates a product with a slug made from its name and a GTIN stored as GTIN-14', async () => {
    const res = await create({
      name: 'Crème Brûlée 250 g',
      gtin: '036000291452',
      description: 'Dessert',
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      name: 'Crème Brûlée 250 g',
      slug: 'creme-brulee-250-g',
      gtin: '00036000291452',
      description: 'Dessert',
      external_id: null,
      primary_image: null,
      image: null,
      image_count: 0,
    });
    expect(res.json().id).toMatch(/^[2-9A-HJ-NP-Za-km-z]{22}$/);
    expect(res.headers.location).toBe(`/api/v1/products/${res.json().id}`);
  });

  it('makes generated slugs unique, and refuses a taken explicit slug with 409', async () => {
    const a = (await create({ name: 'Mug' })).json();
    const b = (await create({ name: 'Mug' })).json();
    const c2 = (await create({ name: 'mug!' })).json();
    expect([a.slug, b.slug, c2.slug]).toEqual(['mug', 'mug-2', 'mug-3']);
    const taken = await create({ name: 'Other', slug: 'mug' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: 'slug_taken', errors: [{ field: 'slug' }] });
  });

  it('keeps slugs and GTINs unique per organisation only', async () => {
    await create({ name: 'Shared', slug: 'shared', gtin: '96385074' });
    const other = await create({ name: 'Shared', slug: 'shared', gtin: '96385074' }, c.other);
    expect(other.statusCode).toBe(201);
    const dup = await create({ name: 'Dup', gtin: '00000096385074' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('gtin_taken');
  });

  // "" was taken for no GTIN on create (201, gtin null), where an update refuses it.
  it.each(['4006381333932', '12345', 'abcdefgh', '123456789', ''])(
    'refuses the GTIN %j',
    async (gtin) => {
      const res = await create({ name: 'Bad GTIN', gtin });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'invalid_gtin', errors: [{ field: 'gtin' }] });
    },
  );

  it('validates the body', async () => {
    for (const body of [
      {},
      { name: '' },
      { name: 'x', slug: 'Not A Slug' },
      { name: 'x', extra: 1 },
      { name: 'x', external_id: 'a/b' },
    ]) {
      const res = await create(body);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
  });

  it('finds a product by any of the four GTIN lengths', async () => {
    const p = (await create({ name: 'Lookup', gtin: '4006381333931' })).json();
    for (const gtin of ['4006381333931', '04006381333931']) {
      const res = await call(app, 'GET', `/api/v1/products/by-gtin/${gtin}`, c.user);
      expect(res.statusCode).toBe(200);
      expect(res.json().id).toBe(p.id);
    }
    const eight = (await create({ name: 'Eight', gtin: '55123457' })).json();
    expect((await call(app, 'GET', '/api/v1/products/by-gtin/55123457', c.user)).json().id).toBe(
      eight.id,
    );
    expect(
      (await call(app, 'GET', '/api/v1/products/by-gtin/00000055123457', c.user)).json().id,
    ).toBe(eight.id);
    const missing = await call(app, 'GET', '/api/v1/products/by-gtin/96385074', c.other);
    expect(missing.statusCode).toBe(200); // "elsewhere" has its own product with that GTIN
    const unknown = await call(app, 'GET', '/api/v1/products/by-gtin/40170725', c.user);
    expect(unknown.statusCode).toBe(404);
    const invalid = await call(app, 'GET', '/api/v1/products/by-gtin/123', c.user);
    expect(invalid.statusCode).toBe(400);
  });

  it('changes and deletes a product addressed by GTIN, in its organisation only', async () => {
    const p = (await create({ name: 'By GTIN', gtin: '5901234123457' })).json();
    const url = '/api/v1/products/by-gtin/5901234123457';
    const patched = await call(app, 'PATCH', url, c.staff, { name: 'Changed by GTIN' });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: p.id, name: 'Changed by GTIN' });
    // The GTIN itself can change through its own address; the old one then names nothing.
    const moved = await call(app, 'PATCH', url, c.staff, { gtin: '0012345678905' });
    expect(moved.json()).toMatchObject({ id: p.id, gtin: '00012345678905' });
    expect((await call(app, 'GET', url, c.user)).statusCode).toBe(404);

    const newUrl = '/api/v1/products/by-gtin/012345678905';
    for (const [method, body] of [
      ['PATCH', { name: 'x' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await call(app, method, newUrl, c.other, body);
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('product_not_found');
    }
    expect((await call(app, 'DELETE', newUrl, c.user)).statusCode).toBe(403);
    expect((await call(app, 'DELETE', newUrl, c.staff)).statusCode).toBe(204);
    expect((await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).statusCode).toBe(404);
    const invalid = await call(app, 'PATCH', '/api/v1/products/by-gtin/123', c.staff, {
      name: 'x',
    });
    expect(invalid.json().code).toBe('invalid_gtin');
  });

  it('lists newest first with a cursor, and filters by slug and GTIN', async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await create({ name: `Page item ${i}` })).json().id);
      // created_at is kept to the millisecond (rounded): two products made within one are
      // ordered by id, not by creation, so each is made in a later millisecond than the last.
      await sleep(3);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/v1/products?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await call(app, 'GET', url, c.user)).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((p: { id: string }) => p.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.slice(0, 5)).toEqual([...made].reverse());
    const total = (await call(app, 'GET', '/api/v1/products?limit=100', c.user)).json().items
      .length;
    expect(seen.length).toBe(total);

    const bySlug = (await call(app, 'GET', '/api/v1/products?slug=page-item-3', c.user)).json();
    expect(bySlug.items.map((p: { id: string }) => p.id)).toEqual([made[3]]);
    const byGtin = (await call(app, 'GET', '/api/v1/products?gtin=036000291452', c.user)).json();
    expect(byGtin.items).toHaveLength(1);
    const badCursor = await call(app, 'GET', '/api/v1/products?cursor=nonsense', c.user);
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json().code).toBe('invalid_cursor');
  });

  it('refuses a cursor it returned once altered: characters added, padded, or spelled otherwise', async () => {
    for (let i = 0; i < 2; i++) await create({ name: `Cursor item ${i}` });
    const cursor: string = (await call(app, 'GET', '/api/v1/products?limit=1', c.user)).json()
      .next_cursor;
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const list = (given: string) =>
      call(app, 'GET', `/api/v1/products?limit=1&cursor=${encodeURIComponent(given)}`, c.user);
    expect((await list(cursor)).statusCode).toBe(200);
    // Node's base64url decoder skips what is not of its alphabet and reads a trailing partial
    // character as nothing: each of these decoded to the very cursor, and was taken for it.
    for (const altered of [
      `${cursor}Q`,
      `${cursor}==`,
      `${cursor.slice(0, 8)}!${cursor.slice(8)}`,
      `${cursor.slice(0, 8)}.${cursor.slice(8)}`,
      `${cursor.slice(0, 8)} ${cursor.slice(8)}`,
    ]) {
      const res = await list(altered);
      expect({ altered, status: res.statusCode, code: res.json().code }).toEqual({
        altered,
        status: 400,
        code: 'invalid_cursor',
      });
    }
  });

  it('lists each product with its primary image and image count, as reading it alone does', async () => {
    const withImages = (await create({ name: 'Listed with images' })).json();
    const without = (await create({ name: 'Listed without' })).json();
    const primary = await uploadTo(withImages.id, { alt_text: 'Side view' });
    await uploadTo(withImages.id);
    const items: { id: string; primary_image: unknown }[] = (
      await call(app, 'GET', '/api/v1/products?limit=100', c.user)
    ).json().items;
    const listed = (id: string) => items.find((p) => p.id === id);
    expect(listed(withImages.id)).toMatchObject({ image_count: 2, image: primary.url });
    expect(listed(withImages.id)?.primary_image).toEqual({
      id: primary.id,
      url: primary.url,
      alt_text: 'Side view',
      width: primary.width,
      height: primary.height,
      renditions: Object.fromEntries(
        Object.entries(primary.renditions).map(([name, r]) => [name, r.url]),
      ),
    });
    expect(listed(without.id)).toMatchObject({ image_count: 0, image: null, primary_image: null });
    for (const p of [withImages, without]) {
      const alone = await call(app, 'GET', `/api/v1/products/${p.id}`, c.user);
      expect(listed(p.id)).toEqual(alone.json());
    }
  });

  it('never lists another organisation’s products', async () => {
    const theirs = (await call(app, 'GET', '/api/v1/products?limit=100', c.other)).json();
    expect(theirs.items.map((p: { slug: string }) => p.slug)).toEqual(['shared']);
  });

  it('updates a product, and can clear its GTIN', async () => {
    const p = (await create({ name: 'Before', gtin: '40170725' })).json();
    const res = await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, {
      name: 'After',
      slug: 'after',
      description: 'New',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      name: 'After',
      slug: 'after',
      description: 'New',
      gtin: '00000040170725',
    });
    const cleared = await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, { gtin: null });
    expect(cleared.json().gtin).toBeNull();
  });

  it('answers an image count and a primary image that agree, whatever commits meanwhile', async () => {
    const p = (await create({ name: 'Counted' })).json<{ id: string }>();
    // The product's row is read (no image yet); an upload commits before the answer is built.
    const products = app.get(ProductsRepository);
    const findOne = products.findOne.bind(products);
    const spy = jest.spyOn(products, 'findOne').mockImplementationOnce(async (key) => {
      const row = await findOne(key);
      await uploadTo(p.id);
      return row;
    });
    try {
      const body = (await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).json();
      // Either as before the upload or as after it: never 0 images and a primary one.
      expect([body.image_count, body.primary_image === null]).toEqual(
        body.primary_image === null ? [0, true] : [1, false],
      );
    } finally {
      spy.mockRestore();
    }
  });

  describe('versions (ETag and If-Match)', () => {
    const url = (p: { id: string }): string => `/api/v1/products/${p.id}`;
    const patch = (p: { id: string }, body: object, ifMatch?: string) =>
      call(app, 'PATCH', url(p), c.staff, body, {
        headers: ifMatch === undefined ? {} : { 'if-match': ifMatch },
      });

    const etag = (version: number): string => `"p${version}"`;

    it('names the version in the body and as the ETag of create, GET, PATCH and the list', async () => {
      const created = await create({ name: 'Versioned' });
      expect(created.statusCode).toBe(201);
      const v1 = created.json().version as number;
      expect(Number.isSafeInteger(v1) && v1 > 0).toBe(true);
      expect(created.headers.etag).toBe(etag(v1));
      const read = await call(app, 'GET', url(created.json()), c.user);
      expect([read.headers.etag, read.json().version]).toEqual([etag(v1), v1]);
      const changed = await patch(created.json(), { name: 'Versioned again' }, etag(v1));
      expect(changed.statusCode).toBe(200);
      // A new number, never handed out before (not v1 + 1 when others changed meanwhile).
      const v2 = changed.json().version as number;
      expect(v2).toBeGreaterThan(v1);
      expect(changed.headers.etag).toBe(etag(v2));
      const listed = await call(app, 'GET', `/api/v1/products?slug=versioned`, c.user);
      expect(listed.json().items).toEqual([expect.objectContaining({ version: v2 })]);
      // By GTIN and external id too: the same product, the same ETag.
      const v3 = (await patch(created.json(), { external_id: 'versioned-1' })).json().version;
      expect(v3).toBeGreaterThan(v2);
      const byExternalId = await call(
        app,
        'GET',
        '/api/v1/products/by-external-id/versioned-1',
        c.user,
      );
      expect(byExternalId.headers.etag).toBe(etag(v3));
    });

    it('never hands the same version to two products', async () => {
      const made = await Promise.all(
        Array.from({ length: 8 }, (_, i) => create({ name: `Numbered ${i}` })),
      );
      const changed = await Promise.all(
        made.map((res) => patch(res.json(), { description: 'changed' })),
      );
      const versions = [...made, ...changed].map((res) => res.json().version as number);
      expect(new Set(versions).size).toBe(16);
    });

    it('answers 412 product_changed to a stale If-Match on PATCH and DELETE, changing nothing', async () => {
      const p = (await create({ name: 'Contested', description: 'first' })).json();
      const v1 = p.version as number;
      // Editor A and editor B read version v1; A saves first.
      const fromA = await patch(p, { description: 'from A' }, etag(v1));
      expect(fromA.statusCode).toBe(200);
      const v2 = fromA.json().version as number;
      const stale = await patch(p, { description: 'from B' }, etag(v1));
      expect(stale.statusCode).toBe(412);
      expect(stale.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(stale.json()).toMatchObject({ code: 'product_changed', current_version: v2 });
      const staleDelete = await call(app, 'DELETE', url(p), c.staff, undefined, {
        headers: { 'if-match': `W/${etag(v1)}` },
      });
      expect(staleDelete.statusCode).toBe(412);
      expect(staleDelete.json()).toMatchObject({ code: 'product_changed', current_version: v2 });
      const now = await call(app, 'GET', url(p), c.user);
      expect(now.json()).toMatchObject({ description: 'from A', version: v2 });
      // An empty change is checked too, and changes no version; a list or `*` matches.
      expect((await patch(p, {}, etag(v1))).statusCode).toBe(412);
      expect((await patch(p, {}, `${etag(v1)}, ${etag(v2)}`)).json().version).toBe(v2);
      // A gallery's ETag of the same number is no version of the product.
      expect((await patch(p, {}, `"${v2}"`)).statusCode).toBe(412);
      const v3 = (await patch(p, { name: 'Contested 2' }, '*')).json().version as number;
      expect(v3).toBeGreaterThan(v2);
      // A version past what the service reads never matches, and is no 500.
      expect((await patch(p, { name: 'Contested 3' }, '"p9999999999999999"')).statusCode).toBe(412);
      const listed = await patch(p, { name: 'Contested 3' }, `9999999999999999, ${etag(v3)}`);
      expect(listed.statusCode).toBe(200);
      const v4 = listed.json().version as number;
      const deleted = await call(app, 'DELETE', url(p), c.staff, undefined, {
        headers: { 'if-match': String(v4) },
      });
      expect(deleted.statusCode).toBe(204);
      // A retried DELETE whose first attempt went through: 404, not 412.
      const again = await call(app, 'DELETE', url(p), c.staff, undefined, {
        headers: { 'if-match': etag(v4) },
      });
      expect(again.statusCode).toBe(404);
      expect(again.json().code).toBe('product_not_found');
    });

    it('lets exactly one of two editors holding the same version save', async () => {
      const p = (await create({ name: 'Raced' })).json();
      const results = await Promise.all(
        ['one', 'two', 'three', 'four'].map((d) => patch(p, { description: d }, etag(p.version))),
      );
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 412, 412, 412]);
      const winner = results.find((r) => r.statusCode === 200)!.json();
      const now = (await call(app, 'GET', url(p), c.user)).json();
      expect(now).toMatchObject({ description: winner.description, version: winner.version });
      expect(winner.version).toBeGreaterThan(p.version);
    });

    it('keeps the product version when its gallery changes (the gallery has its own)', async () => {
      const p = (await create({ name: 'Gallery apart' })).json();
      const body = multipart({}, [{ data: await solidJpeg(), contentType: 'image/jpeg' }]);
      const upload = await call(app, 'POST', `${url(p)}/images`, c.staff, body.payload, {
        headers: body.headers,
      });
      expect(upload.statusCode).toBe(201);
      const now = await call(app, 'GET', url(p), c.user);
      expect([now.json().image_count, now.json().version, now.headers.etag]).toEqual([
        1,
        p.version,
        etag(p.version),
      ]);
      // Nor is the product's ETag a version of its gallery.
      const gallery = await call(app, 'GET', `${url(p)}/images`, c.user);
      const order = gallery.json().items.map((i: { id: string }) => i.id);
      const crossed = await call(
        app,
        'PUT',
        `${url(p)}/images/order`,
        c.staff,
        {
          image_ids: order,
        },
        { headers: { 'if-match': etag(gallery.json().version) } },
      );
      expect([crossed.statusCode, crossed.json().code]).toEqual([412, 'gallery_changed']);
      expect((await patch(p, { name: 'Gallery apart 2' }, etag(p.version))).statusCode).toBe(200);
    });
  });

  it('refuses null for fields that cannot be empty, naming the field (only gtin and external_id clear)', async () => {
    const p = (await create({ name: 'Nulls' })).json();
    for (const field of ['name', 'slug', 'description']) {
      const res = await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, { [field]: null });
      expect({ field, status: res.statusCode, code: res.json().code }).toEqual({
        field,
        status: 400,
        code: 'validation_failed',
      });
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const created = await create({ name: 'Null description', description: null });
    expect(created.statusCode).toBe(400);
  });

  it('allows reads to users and writes to staff only', async () => {
    const p = (await create({ name: 'Perms' })).json();
    expect((await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).statusCode).toBe(200);
    expect((await create({ name: 'Nope' }, c.user)).statusCode).toBe(403);
    expect(
      (await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.user, { name: 'x' })).statusCode,
    ).toBe(403);
    expect((await call(app, 'DELETE', `/api/v1/products/${p.id}`, c.user)).statusCode).toBe(403);
    expect((await call(app, 'GET', `/api/v1/products/${p.id}`)).statusCode).toBe(401);
  });

  it("answers 404 for another organisation's product, as for an unknown id", async () => {
    const p = (await create({ name: 'Private' })).json();
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { name: 'x' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await call(app, method, `/api/v1/products/${p.id}`, c.other, body);
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('product_not_found');
    }
    expect((await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).statusCode).toBe(200);
  });

  it('lets a key for products only delete a product without images, not one with', async () => {
    const key = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
      name: 'catalogue sync',
      role: Role.Staff,
      scopes: [Scope.ProductsRead, Scope.ProductsWrite],
    });
    const productsOnly = { apiKey: key.json<{ key: string }>().key };
    const empty = (await create({ name: 'No images' })).json();
    const withImage = (await create({ name: 'With an image' })).json();
    await uploadTo(withImage.id);

    const refused = await call(app, 'DELETE', `/api/v1/products/${withImage.id}`, productsOnly);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({
      code: 'insufficient_scope',
      required_scopes: ['images:write'],
    });
    // A precondition counts only where the request would otherwise succeed (RFC 9110 §13.2.1):
    // a stale If-Match is no way round the 403, and the 412 would name the current version.
    const stale = await call(
      app,
      'DELETE',
      `/api/v1/products/${withImage.id}`,
      productsOnly,
      undefined,
      {
        headers: { 'if-match': '"p1"' },
      },
    );
    expect(stale.statusCode).toBe(403);
    expect(stale.json()).toMatchObject({ code: 'insufficient_scope' });
    const kept = await call(app, 'GET', `/api/v1/products/${withImage.id}/images`, c.staff);
    expect(kept.json().items).toHaveLength(1);
    expect(
      (await call(app, 'DELETE', `/api/v1/products/${empty.id}`, productsOnly)).statusCode,
    ).toBe(204);
    expect(
      (await call(app, 'DELETE', `/api/v1/products/${withImage.id}`, c.staff)).statusCode,
    ).toBe(204);
  });

  it('deletes a product with its images and their files', async () => {
    const p = (await create({ name: 'Doomed' })).json();
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const image = await uploadTo(p.id);
      urls.push(image.url, ...Object.values(image.renditions).map((r) => r.url));
    }
    const mediaDir = join(t.db.env.DATA_DIR, 'media');
    const files = urls.map((u) => join(mediaDir, new URL(u).pathname.replace('/media/', '')));
    expect(files.every((f) => existsSync(f))).toBe(true);
    const summary = (await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).json();
    expect(summary.image_count).toBe(2);
    expect(summary.primary_image.renditions.thumb).toMatch(/\/thumb\.webp$/);

    expect((await call(app, 'DELETE', `/api/v1/products/${p.id}`, c.staff)).statusCode).toBe(204);
    expect((await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).statusCode).toBe(404);
    const [{ n }] = await app
      .get(DataSource)
      .query('SELECT count(*)::int AS n FROM images WHERE product_id = $1', [decodeId(p.id)]);
    expect(n).toBe(0);
    // The files go in a file-deletion job queued with the delete, run just after its commit.
    await eventually(
      async () => (await pendingFileDeletions(app.get(DataSource))).length === 0,
      'the file deletions to run',
    );
    expect(files.filter((f) => existsSync(f))).toEqual([]);
  });
});
