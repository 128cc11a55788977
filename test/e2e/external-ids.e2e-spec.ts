import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions } from 'light-my-request';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { ImageProcessor } from '../../src/images/processing/image-processor';
import { STORAGE_PROVIDER, type StorageProvider } from '../../src/storage/storage-provider';
import { addUser, otherOrganisationAdmin } from '../support/accounts';
import { eventually } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

interface ProductBody {
  id: string;
  external_id: string | null;
  image: string | null;
  primary_image: { id: string; url: string } | null;
  image_count: number;
}

/**
 * Products addressed by the caller's own id (`external_id`): set, changed, cleared, unique per
 * organisation (also under concurrent requests), filtered on, and every product and gallery route
 * under `/api/v1/products/by-external-id/{externalId}`.
 */
describe('External ids', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let jpeg: Buffer;
  const c: Record<string, Credential> = {};
  let made = 0;

  const byExternalId = (externalId: string) =>
    `/api/v1/products/by-external-id/${encodeURIComponent(externalId)}`;

  function create(body: object, as: Credential = c.staff) {
    return call(app, 'POST', '/api/v1/products', as, { name: 'Thing', ...body });
  }

  async function created(body: object, as: Credential = c.staff): Promise<ProductBody> {
    const res = await create(body, as);
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  function upload(url: string, as: Credential = c.staff) {
    const body = multipart({}, [{ data: jpeg, contentType: 'image/jpeg' }]);
    return call(app, 'POST', url, as, body.payload, { headers: body.headers });
  }

  async function externalIdInDatabase(productId: string): Promise<string | null> {
    const [row] = await app
      .get(DataSource)
      .query('SELECT external_id FROM products WHERE id = $1', [decodeId(productId)]);
    return (row as { external_id: string | null }).external_id;
  }

  beforeAll(async () => {
    jpeg = await solidJpeg(16, 16);
    t = await startTestApp();
    app = t.app;
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'ext-staff', Role.Staff);
    c.user = await addUser(app, c.admin, 'ext-user', Role.User);
    c.other = await otherOrganisationAdmin(app, 'ext-elsewhere', 'ext-else');
  });
  afterAll(() => t.close());

  describe('the external_id field', () => {
    it('is set on create, answered by every product response, and null when not given', async () => {
      const p = await created({ external_id: 'SKU-1001' });
      expect(p.external_id).toBe('SKU-1001');
      expect(await externalIdInDatabase(p.id)).toBe('SKU-1001');
      const got = await call(app, 'GET', `/api/v1/products/${p.id}`, c.user);
      expect(got.json().external_id).toBe('SKU-1001');
      const listed = await call(app, 'GET', '/api/v1/products?external_id=SKU-1001', c.user);
      expect(listed.json().items.map((i: ProductBody) => i.external_id)).toEqual(['SKU-1001']);

      const plain = await created({});
      expect(plain.external_id).toBeNull();
      expect((await created({ external_id: null })).external_id).toBeNull();
    });

    it('is changed and cleared by PATCH; a cleared id is free again and no longer addresses', async () => {
      const p = await created({ external_id: 'old-id' });
      const changed = await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, {
        external_id: 'new-id',
      });
      expect(changed.statusCode).toBe(200);
      expect(changed.json().external_id).toBe('new-id');
      expect((await call(app, 'GET', byExternalId('old-id'), c.user)).statusCode).toBe(404);
      expect((await call(app, 'GET', byExternalId('new-id'), c.user)).json().id).toBe(p.id);

      const untouched = await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, {
        name: 'Renamed',
      });
      expect(untouched.json()).toMatchObject({ name: 'Renamed', external_id: 'new-id' });

      const cleared = await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, {
        external_id: null,
      });
      expect(cleared.statusCode).toBe(200);
      expect(cleared.json().external_id).toBeNull();
      expect(await externalIdInDatabase(p.id)).toBeNull();
      const missing = await call(app, 'GET', byExternalId('new-id'), c.user);
      expect(missing.statusCode).toBe(404);
      expect(missing.json().code).toBe('product_not_found');
      expect((await created({ external_id: 'new-id' })).external_id).toBe('new-id');
    });

    it('accepts up to 255 characters of any script, addressable percent-encoded', async () => {
      const ids = ['😀'.repeat(255), 'x'.repeat(255), 'a b?c#d%e&f+g', 'Crème brûlée 250 g'];
      for (const externalId of ids) {
        const p = await created({ external_id: externalId });
        expect(p.external_id).toBe(externalId);
        const res = await call(app, 'GET', byExternalId(externalId), c.user);
        expect({ externalId, status: res.statusCode }).toEqual({ externalId, status: 200 });
        expect(res.json().id).toBe(p.id);
      }
    });

    it.each([
      ['empty', ''],
      ['256 characters', 'x'.repeat(256)],
      ['256 emoji', '😀'.repeat(256)],
      ['a slash', 'a/b'],
      ['"."', '.'],
      ['".."', '..'],
      ['a control character', 'tab\there'],
      ['a DEL', 'del\u007f'],
      ['a C1 control character', 'next\u0085line'],
      ['a number', 4711],
      ['an object', { id: 1 }],
    ])('refuses %s with 400 validation_failed on create and update', async (_, value) => {
      const res = await create({ external_id: value });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'validation_failed',
        errors: [{ field: 'external_id' }],
      });
      const p = await created({ external_id: `valid-${++made}` });
      const patched = await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, {
        external_id: value,
      });
      expect(patched.statusCode).toBe(400);
      expect(patched.json().errors.map((e: { field: string }) => e.field)).toEqual(['external_id']);
      expect(await externalIdInDatabase(p.id)).toBe(p.external_id);
    });
  });

  describe('uniqueness', () => {
    it('answers 409 external_id_taken on create and update within an organisation', async () => {
      const first = await created({ external_id: 'dup-1' });
      const dup = await create({ external_id: 'dup-1' });
      expect(dup.statusCode).toBe(409);
      expect(dup.json()).toMatchObject({
        code: 'external_id_taken',
        errors: [{ field: 'external_id', message: 'is already in use' }],
      });

      const second = await created({ external_id: 'dup-2' });
      const moved = await call(app, 'PATCH', `/api/v1/products/${second.id}`, c.staff, {
        external_id: 'dup-1',
        name: 'Not applied',
      });
      expect(moved.statusCode).toBe(409);
      expect(moved.json().code).toBe('external_id_taken');
      const after = (await call(app, 'GET', `/api/v1/products/${second.id}`, c.user)).json();
      expect(after).toMatchObject({ external_id: 'dup-2', name: 'Thing' });
      // Exact comparison: another case, or surrounding spaces, is another id.
      expect((await created({ external_id: 'DUP-1' })).external_id).toBe('DUP-1');
      expect((await created({ external_id: ' dup-1' })).external_id).toBe(' dup-1');
      expect((await call(app, 'GET', byExternalId('dup-1'), c.user)).json().id).toBe(first.id);
    });

    it('is per organisation: another organisation may use the same id, and sees only its own', async () => {
      const ours = await created({ external_id: 'shared-7' });
      const theirs = await created({ external_id: 'shared-7' }, c.other);
      expect(theirs.id).not.toBe(ours.id);
      expect((await call(app, 'GET', byExternalId('shared-7'), c.user)).json().id).toBe(ours.id);
      expect((await call(app, 'GET', byExternalId('shared-7'), c.other)).json().id).toBe(theirs.id);
      const listed = await call(app, 'GET', '/api/v1/products?external_id=shared-7', c.other);
      expect(listed.json().items.map((p: ProductBody) => p.id)).toEqual([theirs.id]);
    });

    it('holds under concurrent requests: exactly one of ten creates wins, the others are 409', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => create({ name: `Racer ${i}`, external_id: 'race-1' })),
      );
      const statuses = results.map((r) => r.statusCode).sort();
      expect(statuses).toEqual([201, ...Array<number>(9).fill(409)]);
      for (const r of results.filter((r) => r.statusCode === 409)) {
        expect(r.json().code).toBe('external_id_taken');
      }
      const [{ n }] = await app
        .get(DataSource)
        .query(`SELECT count(*)::int AS n FROM products WHERE external_id = 'race-1'`);
      expect(n).toBe(1);
    });

    it('holds under concurrent updates of two products to the same id', async () => {
      const a = await created({});
      const b = await created({});
      const results = await Promise.all(
        [a, b].map((p) =>
          call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, { external_id: 'race-2' }),
        ),
      );
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409]);
      const [{ n }] = await app
        .get(DataSource)
        .query(`SELECT count(*)::int AS n FROM products WHERE external_id = 'race-2'`);
      expect(n).toBe(1);
    });
  });

  it('filters the list by external_id exactly', async () => {
    const p = await created({ external_id: 'filter-42' });
    await created({ external_id: 'filter-421' });
    await created({ external_id: 'FILTER-42' });
    const res = await call(app, 'GET', '/api/v1/products?external_id=filter-42', c.user);
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((i: ProductBody) => i.id)).toEqual([p.id]);
    const none = await call(app, 'GET', '/api/v1/products?external_id=filter-4', c.user);
    expect(none.json().items).toEqual([]);
    const bad = await call(
      app,
      'GET',
      `/api/v1/products?external_id=${encodeURIComponent('a/b')}`,
      c.user,
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'external_id' }],
    });
  });

  describe('products/by-external-id/{externalId}', () => {
    it('gets, changes and deletes a product', async () => {
      const p = await created({ name: 'Addressed', external_id: 'shop-100' });
      const got = await call(app, 'GET', byExternalId('shop-100'), c.user);
      expect(got.statusCode).toBe(200);
      expect(got.json()).toMatchObject({ id: p.id, name: 'Addressed', external_id: 'shop-100' });

      const patched = await call(app, 'PATCH', byExternalId('shop-100'), c.staff, {
        name: 'Re-addressed',
        external_id: 'shop-101',
      });
      expect(patched.statusCode).toBe(200);
      expect(patched.json()).toMatchObject({
        id: p.id,
        name: 'Re-addressed',
        external_id: 'shop-101',
      });
      expect((await call(app, 'GET', byExternalId('shop-100'), c.user)).statusCode).toBe(404);

      expect(
        (await call(app, 'PATCH', byExternalId('shop-101'), c.user, { name: 'x' })).statusCode,
      ).toBe(403);
      expect((await call(app, 'DELETE', byExternalId('shop-101'), c.staff)).statusCode).toBe(204);
      expect((await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).statusCode).toBe(404);
    });

    it('runs every gallery route and the Ocha image route', async () => {
      const p = await created({ external_id: 'gallery-1' });
      const base = `${byExternalId('gallery-1')}/images`;

      const first = await upload(base);
      expect(first.statusCode).toBe(201);
      expect(first.json()).toMatchObject({ product_id: p.id, is_primary: true });

      const standaloneBody = multipart({ purpose: 'product' }, [
        { data: jpeg, contentType: 'image/jpeg' },
      ]);
      const standalone = await call(
        app,
        'POST',
        '/api/v1/images',
        c.staff,
        standaloneBody.payload,
        {
          headers: standaloneBody.headers,
        },
      );
      expect(standalone.statusCode).toBe(201);
      const attached = await call(app, 'POST', `${base}/attach`, c.staff, {
        image_id: standalone.json().id,
        title: 'Attached',
      });
      expect(attached.statusCode).toBe(201);
      expect(attached.json()).toMatchObject({
        product_id: p.id,
        title: 'Attached',
        is_primary: false,
      });

      const listed = await call(app, 'GET', base, c.user);
      expect(listed.statusCode).toBe(200);
      expect(listed.json().items.map((i: { id: string }) => i.id)).toEqual([
        first.json().id,
        attached.json().id,
      ]);
      const version = listed.json().version as number;
      expect(listed.headers.etag).toBe(`"${version}"`);

      const one = await call(app, 'GET', `${base}/${attached.json().id}`, c.user);
      expect(one.json()).toMatchObject({ id: attached.json().id, title: 'Attached' });

      const promoted = await call(
        app,
        'PATCH',
        `${base}/${attached.json().id}`,
        c.staff,
        {
          is_primary: true,
        },
        { headers: { 'if-match': String(version) } },
      );
      expect(promoted.statusCode).toBe(200);
      expect(promoted.json().is_primary).toBe(true);

      const reordered = await call(app, 'PUT', `${base}/order`, c.staff, {
        image_ids: [attached.json().id, first.json().id],
      });
      expect(reordered.statusCode).toBe(200);
      expect(reordered.json().items.map((i: { id: string }) => i.id)).toEqual([
        attached.json().id,
        first.json().id,
      ]);

      expect((await call(app, 'DELETE', `${base}/${first.json().id}`, c.staff)).statusCode).toBe(
        204,
      );
      const left = (await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).json();
      expect(left).toMatchObject({ image_count: 1, primary_image: { id: attached.json().id } });

      const ocha = await call(app, 'PUT', `${byExternalId('gallery-1')}/image`, c.admin, {
        image: `data:image/jpeg;base64,${jpeg.toString('base64')}`,
      });
      expect(ocha.statusCode).toBe(200);
      expect(ocha.json()).toMatchObject({ id: p.id, external_id: 'gallery-1', image_count: 2 });
      expect(ocha.json().image).toBe(ocha.json().primary_image.url);
      expect(ocha.json().primary_image.id).not.toBe(attached.json().id);
    });

    it("answers 404 product_not_found for another organisation's product on every route", async () => {
      const p = await created({ external_id: 'private-1' });
      const img = (await upload(`${byExternalId('private-1')}/images`)).json();
      const base = byExternalId('private-1');
      const attempts: [InjectOptions['method'], string, unknown][] = [
        ['GET', base, undefined],
        ['PATCH', base, { name: 'x' }],
        ['DELETE', base, undefined],
        ['GET', `${base}/images`, undefined],
        ['POST', `${base}/images/attach`, { image_id: img.id }],
        ['GET', `${base}/images/${img.id}`, undefined],
        ['PATCH', `${base}/images/${img.id}`, { title: 'x' }],
        ['PUT', `${base}/images/order`, { image_ids: [img.id] }],
        ['DELETE', `${base}/images/${img.id}`, undefined],
        ['PUT', `${base}/image`, { image: `data:image/jpeg;base64,${jpeg.toString('base64')}` }],
      ];
      for (const [method, url, body] of attempts) {
        const res = await call(app, method, url, c.other, body);
        expect({ method, url, status: res.statusCode, code: res.json().code }).toEqual({
          method,
          url,
          status: 404,
          code: 'product_not_found',
        });
      }
      const upload404 = await upload(`${base}/images`, c.other);
      expect(upload404.statusCode).toBe(404);
      const still = (await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).json();
      expect(still).toMatchObject({ name: 'Thing', image_count: 1, external_id: 'private-1' });
    });

    // "." and ".." (refused as external ids above) never even arrive: URL parsers resolve them.
    it.each([
      ['a%2Fb', 'an encoded slash'],
      ['a%00b', 'a NUL'],
      ['a%09b', 'a tab'],
      ['%F0%9F%98%80'.repeat(256), '256 characters'],
    ])('answers 400 invalid_external_id for %s (%s)', async (segment) => {
      for (const suffix of ['', '/images', '/image']) {
        const method = suffix === '/image' ? 'PUT' : 'GET';
        const body = suffix === '/image' ? { image: 'data:image/png;base64,AA==' } : undefined;
        const res = await call(
          app,
          method,
          `/api/v1/products/by-external-id/${segment}${suffix}`,
          c.admin,
          body,
        );
        expect({ suffix, status: res.statusCode, code: res.json().code }).toEqual({
          suffix,
          status: 400,
          code: 'invalid_external_id',
        });
        expect(res.json().errors).toEqual([{ field: 'externalId', message: expect.any(String) }]);
      }
    });

    it.each([
      ['PATCH', 'external_id', 'sku-moved', 'sku-moved', 'by-external-id/sku-moved'],
      ['PATCH', 'gtin', '4006381333931', '04006381333931', 'by-gtin/4006381333931'],
      ['POST', 'external_id', 'sku-upload', 'sku-upload', 'by-external-id/sku-upload/images'],
      ['DELETE', 'external_id', 'sku-gone', 'sku-gone', 'by-external-id/sku-gone'],
    ] as const)(
      '%s by %s acts on the product that has it when it commits, never the one it moved from',
      async (method, column, sent, stored, path) => {
        // Another writer's transaction moves the value from A to B, holding A's row meanwhile: a
        // second connection, which only a PostgreSQL server has.
        if (t.db.kind !== 'postgres') return;
        const a = await created({ name: `A ${sent}`, [column]: sent });
        const b = await created({ name: `B ${sent}` });
        const other = app.get(DataSource).createQueryRunner();
        await other.connect();
        try {
          await other.startTransaction();
          const move = `UPDATE products SET ${column} = $2 WHERE id = $1`;
          await other.query(move, [decodeId(a.id), null]);
          await other.query(move, [decodeId(b.id), stored]);
          const url = `/api/v1/products/${path}`;
          const pending =
            method === 'POST'
              ? upload(url)
              : call(
                  app,
                  method,
                  url,
                  c.admin,
                  method === 'PATCH' ? { description: 'moved' } : undefined,
                );
          await eventually(async () => {
            const [{ n }] = await app.get(DataSource).query<{ n: number }[]>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND datname = current_database()`,
            );
            return n > 0;
          }, `the ${method} to wait for A's row`);
          await other.commitTransaction();
          const res = await pending;
          const nowA = await call(app, 'GET', `/api/v1/products/${a.id}`, c.staff);
          expect(nowA.json()).toMatchObject({ [column]: null, description: '', image_count: 0 });
          const nowB = await call(app, 'GET', `/api/v1/products/${b.id}`, c.staff);
          if (method === 'PATCH') {
            expect(res.statusCode).toBe(200);
            expect(res.json()).toMatchObject({ id: b.id, description: 'moved' });
          } else if (method === 'POST') {
            expect(res.statusCode).toBe(201);
            expect(nowB.json()).toMatchObject({ image_count: 1 });
          } else {
            expect(res.statusCode).toBe(204);
            expect(nowB.statusCode).toBe(404);
          }
        } finally {
          await other.release();
        }
      },
    );

    it('stores an upload under the product its external id names when it joins, made again meanwhile', async () => {
      const old = await created({ external_id: 'remade-1' });
      // The upload is held once its image is processed, before its files are stored.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let processed!: () => void;
      const processing = new Promise<void>((resolve) => (processed = resolve));
      const original = ImageProcessor.prototype.process;
      const spy = jest
        .spyOn(ImageProcessor.prototype, 'process')
        .mockImplementation(async function (this: ImageProcessor, ...args) {
          const result = await original.apply(this, args);
          processed();
          await held;
          return result;
        });
      try {
        const uploading = upload(`${byExternalId('remade-1')}/images`);
        await processing;
        expect((await call(app, 'DELETE', `/api/v1/products/${old.id}`, c.staff)).statusCode).toBe(
          204,
        );
        const remade = await created({ external_id: 'remade-1' });
        release();
        const res = await uploading;
        expect(res.statusCode).toBe(201);
        expect(res.json()).toMatchObject({ product_id: remade.id });
        // Its files and URL name the product it joined, not the one deleted meanwhile.
        const newFolder = `products/${decodeId(remade.id)}/`;
        const [row] = await app
          .get(DataSource)
          .query<{ storage_key: string }[]>('SELECT storage_key FROM images WHERE id = $1', [
            decodeId(res.json<{ id: string }>().id),
          ]);
        expect(row.storage_key.startsWith(newFolder)).toBe(true);
        expect(res.json<{ url: string }>().url).toContain(`/${newFolder}`);
        const storage = app.get<StorageProvider>(STORAGE_PROVIDER);
        const under = async (folder: string) => {
          const keys: string[] = [];
          for await (const object of storage.list(folder)) keys.push(object.key);
          return keys;
        };
        expect(await under(`products/${decodeId(old.id)}/`)).toEqual([]);
        expect((await under(newFolder)).length).toBeGreaterThan(0);
      } finally {
        spy.mockRestore();
      }
    });

    it('answers 404 for an unknown external id', async () => {
      const res = await call(app, 'GET', byExternalId('never-made'), c.user);
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('product_not_found');
    });
  });

  describe('the image field (the Ocha API)', () => {
    it('is null for an empty gallery, then the primary image’s URL, following every change', async () => {
      const p = await created({ external_id: 'pictured' });
      expect(p.image).toBeNull();
      const read = async (): Promise<ProductBody> =>
        (await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).json();
      const listed = async (): Promise<ProductBody> =>
        (await call(app, 'GET', '/api/v1/products?external_id=pictured', c.user)).json().items[0];
      expect((await read()).image).toBeNull();
      expect((await listed()).image).toBeNull();

      const a = (await upload(`/api/v1/products/${p.id}/images`)).json();
      expect((await read()).image).toBe(a.url);
      expect((await listed()).image).toBe(a.url);
      const b = (await upload(`/api/v1/products/${p.id}/images`)).json();
      expect((await read()).image).toBe(a.url);

      const promoted = await call(
        app,
        'PATCH',
        `/api/v1/products/${p.id}/images/${b.id}`,
        c.staff,
        {
          is_primary: true,
        },
      );
      expect(promoted.statusCode).toBe(200);
      const now = await read();
      expect(now.image).toBe(b.url);
      expect(now.image).toBe(now.primary_image?.url);
      expect(now.image).not.toBe(a.url);
      expect((await listed()).image).toBe(b.url);
      const updated = await call(app, 'PATCH', `/api/v1/products/${p.id}`, c.staff, { name: 'x' });
      expect(updated.json().image).toBe(b.url);

      for (const image of [b, a]) {
        expect(
          (await call(app, 'DELETE', `/api/v1/products/${p.id}/images/${image.id}`, c.staff))
            .statusCode,
        ).toBe(204);
      }
      expect((await read()).image).toBeNull();
    });

    it('is the URL of each product’s own primary image in a list page', async () => {
      const products: ProductBody[] = [];
      for (let i = 0; i < 3; i++) products.push(await created({ name: `Page ${i}` }));
      const urls = new Map<string, string | null>([[products[0].id, null]]);
      for (const p of products.slice(1)) {
        urls.set(p.id, (await upload(`/api/v1/products/${p.id}/images`)).json().url);
      }
      const page = (await call(app, 'GET', '/api/v1/products?limit=3', c.user)).json();
      const seen = new Map(page.items.map((i: ProductBody) => [i.id, i.image]));
      expect(seen).toEqual(urls);
    });
  });
});
