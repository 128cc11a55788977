import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { decodeId, encodeShortId } from '../../src/common/ids/short-id';
import { MAX_GALLERY_PAGE_DEPTH } from '../../src/images/dto/gallery.dto';
import { decodeGalleryCursor, encodeGalleryCursor } from '../../src/images/gallery/gallery-cursor';
import { GalleryRepository, type GalleryRange } from '../../src/images/gallery/gallery.repository';
import { Product } from '../../src/products/entities/product.entity';
import { ProductsRepository } from '../../src/products/products.repository';
import { addUser } from '../support/accounts';
import { newProduct, organizationBySlug } from '../support/factories';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

interface ImageBody {
  id: string;
  is_primary: boolean;
  priority: number;
}

interface GalleryBody {
  items: ImageBody[];
  page: number;
  per_page: number;
  total: number;
  next_cursor: string | null;
}

/** A node of `EXPLAIN (FORMAT JSON)`. */
interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Scan Direction'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Heap Fetches'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

/** A page's plan reads IDX_images_gallery_order backwards, a page and one more row, no sort. */
function expectIndexOrder(explained: unknown): void {
  const all = nodes((explained as { Plan: PlanNode }[])[0].Plan);
  expect(all.map((n) => n['Node Type'])).not.toContain('Sort');
  expect(all.map((n) => n['Node Type'])).not.toContain('Incremental Sort');
  const scan = all.find((n) => n['Index Name'] === 'IDX_images_gallery_order');
  expect(scan).toMatchObject({ 'Node Type': 'Index Scan', 'Scan Direction': 'Backward' });
  // Bounded: the scan reads a page (and one more), not the rows before it.
  expect(scan?.['Actual Rows']).toBeLessThanOrEqual(11);
}

/**
 * A page by number's plan: the ids of the rows before it and of the page read backwards from
 * IDX_images_gallery_order alone (none from the table, once VACUUM marked its pages all-visible),
 * then only the page's rows from the table, each by its id; no sort of the gallery.
 */
function expectDeferredJoin(explained: unknown, depth: number, limit: number): void {
  const all = nodes((explained as { Plan: PlanNode }[])[0].Plan);
  const scan = all.find((n) => n['Index Name'] === 'IDX_images_gallery_order');
  expect(scan).toMatchObject({
    'Node Type': 'Index Only Scan',
    'Scan Direction': 'Backward',
    'Heap Fetches': 0,
  });
  expect(scan?.['Actual Rows']).toBe(depth + limit);
  // About 1,000 ids to the page: a few dozen of the index's pages, not one table page per row.
  expect((scan?.['Shared Hit Blocks'] ?? 0) + (scan?.['Shared Read Blocks'] ?? 0)).toBeLessThan(40);
  const byId = all.filter(
    (n) => n['Node Type'] === 'Index Scan' && n['Relation Name'] === 'images',
  );
  expect(byId.map((n) => n['Actual Rows']! * n['Actual Loops']!)).toEqual([limit]);
  // The page's rows are sorted again (a few), the gallery never.
  for (const sort of all.filter((n) => n['Node Type'] === 'Sort')) {
    expect(sort['Actual Rows']).toBeLessThanOrEqual(limit);
  }
}

/** A value as an SQL literal, for EXECUTE's arguments (uuids, numbers, booleans, times). */
const literal = (value: unknown): string =>
  value instanceof Date
    ? `'${value.toISOString()}'`
    : typeof value === 'string'
      ? `'${value}'`
      : String(value);

/**
 * The read paths of issue 17, section 3: the gallery's order is served by an index at every depth
 * (keyset pagination with a cursor, beside `page`), and its total is the product's kept count.
 */
describe('Gallery read paths', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let db: DataSource;
  const c: Record<string, Credential> = {};

  const base = (productId: string) => `/api/v1/products/${productId}/images`;

  async function read(productId: string, query: string): Promise<GalleryBody> {
    const res = await call(app, 'GET', `${base(productId)}?${query}`, c.user);
    expect(res.statusCode).toBe(200);
    return res.json();
  }

  /**
   * A product with `count` images inserted in bulk (generate_series), in an order with ties:
   * priorities cycle through 0..9, so every priority holds many images, ordered by created_at
   * (some equal, then by id); one is the primary. Its kept count is set as a gallery change would.
   */
  async function bulkGallery(count: number): Promise<string> {
    const organization = await organizationBySlug(db);
    const product = await newProduct(db, { organizationId: organization.id, name: 'Bulk' });
    await db.query(
      `INSERT INTO images (id, organization_id, product_id, is_primary, priority, created_at,
                           updated_at, format, mime_type, width, height, size, color_mode,
                           has_alpha, sha256, storage_key)
       SELECT gen_random_uuid(), $1::uuid, $2::uuid, g = $3::int / 2, g % 10,
              timestamp '2026-01-01' + (g / 3) * interval '1 second', now(), 'jpeg', 'image/jpeg',
              8, 8, 100, 'RGB', false, repeat('0', 64), 'products/' || $2::text || '/' || g || '/o.jpg'
         FROM generate_series(1, $3::int) AS g`,
      [organization.id, product.id, count],
    );
    await db.query('UPDATE products SET image_count = image_count + $2 WHERE id = $1', [
      product.id,
      count,
    ]);
    await db.query('ANALYZE images');
    return encodeShortId(product.id);
  }

  beforeAll(async () => {
    t = await startTestApp();
    app = t.app;
    db = app.get(DataSource);
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.user = await addUser(app, c.admin, 'reed', Role.User);
  });
  afterAll(() => t.close());

  it('numbers a page reached by cursor at the per_page it is read with, when a walk changes it', async () => {
    const p = await bulkGallery(5);
    const ids = (page: GalleryBody) => page.items.map((i) => i.id);
    const byNumber = await read(p, 'per_page=3&page=2');
    // Three pages of one, then three at a time: the fourth image on is page 2 at 3 a page.
    let walk = await read(p, 'per_page=1');
    for (let i = 0; i < 2; i++) walk = await read(p, `per_page=1&cursor=${walk.next_cursor}`);
    const widened = await read(p, `per_page=3&cursor=${walk.next_cursor}`);
    expect(widened).toMatchObject({ page: 2, per_page: 3, next_cursor: null });
    expect(ids(widened)).toEqual(ids(byNumber));
    // Widened after the first page: images 2 to 4 are on page 1 at 3 a page (the cursor held
    // the next page's number, 2, and its next cursor then led to "page 3" of a 2-page gallery).
    const first = await read(p, 'per_page=1');
    const shifted = await read(p, `per_page=3&cursor=${first.next_cursor}`);
    expect(shifted.page).toBe(1);
    expect((await read(p, `per_page=3&cursor=${shifted.next_cursor}`)).page).toBe(2);
  });

  it('walks a gallery by cursor in exactly the order of its pages, ties included', async () => {
    const p = await bulkGallery(95);
    const byPage: string[] = [];
    for (let page = 1; page <= 10; page++) {
      const body = await read(p, `page=${page}&per_page=10`);
      expect(body.total).toBe(95);
      byPage.push(...body.items.map((i) => i.id));
    }
    const byCursor: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const body: GalleryBody = await read(
        p,
        `per_page=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      // Numbered as the same page by number is.
      expect(body).toMatchObject({ page: pages + 1, per_page: 10, total: 95 });
      byCursor.push(...body.items.map((i) => i.id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(10);
    expect(byCursor).toEqual(byPage);
    expect(new Set(byCursor).size).toBe(95);
    // The primary first, then priority ascending.
    const first = await read(p, 'per_page=3');
    expect(first.items[0].is_primary).toBe(true);
    expect(first.items.slice(1).map((i) => i.priority)).toEqual([0, 0]);
    // The repository's rows are those TypeORM's query builder makes, whatever the database.
    const repository = app.get(GalleryRepository);
    const productId = decodeId(p) as string;
    const after = decodeGalleryCursor(first.next_cursor as string).position;
    for (const range of [
      { offset: 0, limit: 11 },
      { offset: 40, limit: 11 },
      { after, offset: 0, limit: 11 },
    ]) {
      expect(await repository.readPage(productId, range)).toEqual(
        await repository.pageQuery(productId, range).getMany(),
      );
    }
    // And the product's row, as TypeORM's findOneBy makes it.
    const organizationId = (await organizationBySlug(db)).id;
    const key = { id: productId, organizationId };
    expect(await app.get(ProductsRepository).findOne(key)).toEqual(
      await db.getRepository(Product).findOneBy(key),
    );
    // A page-based request carries a cursor to the page after it too; the last page none.
    const last = await read(p, 'page=10&per_page=10');
    expect(last.items).toHaveLength(5);
    expect(last.next_cursor).toBeNull();
  });

  it('serves pages by number down to 1,000 images deep, and past that points to the cursor', async () => {
    expect(MAX_GALLERY_PAGE_DEPTH).toBe(1_000);
    const count = 1_030;
    const p = await bulkGallery(count);
    // The whole gallery by cursor, 100 a page: the display order every page below is part of.
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const body: GalleryBody = await read(
        p,
        `per_page=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      all.push(...body.items.map((i) => i.id));
      cursor = body.next_cursor;
    } while (cursor);
    expect(all).toHaveLength(count);
    expect(new Set(all).size).toBe(count);
    // The display order as the gallery promises it: the primary, then priority ascending, then
    // newest first; images tied on both (this gallery has many) by id, descending.
    const productId = decodeId(p) as string;
    const inOrder = await db.query<{ id: string }[]>(
      `SELECT id FROM images WHERE product_id = $1
        ORDER BY is_primary DESC, priority ASC, created_at DESC, id DESC`,
      [productId],
    );
    expect(all).toEqual(inOrder.map((row) => encodeShortId(row.id)));

    // The deepest page by number each page size allows starts 1,000 images deep.
    const ids = (body: GalleryBody) => body.items.map((i) => i.id);
    const deepest = await read(p, 'page=101&per_page=10');
    expect(deepest).toMatchObject({ page: 101, per_page: 10, total: count });
    expect(ids(deepest)).toEqual(all.slice(1000, 1010));
    expect(ids(await read(p, 'page=11&per_page=100'))).toEqual(all.slice(1000, 1030));
    expect(ids(await read(p, 'page=3&per_page=500'))).toEqual(all.slice(1000, 1030));
    expect(ids(await read(p, 'page=1001&per_page=1'))).toEqual(all.slice(1000, 1001));
    // Every page by number between, and each page answers the whole rows of those images.
    for (let page = 2; page <= 101; page += 11) {
      const body = await read(p, `page=${page}&per_page=10`);
      expect(ids(body)).toEqual(all.slice((page - 1) * 10, page * 10));
      const byId = await Promise.all(
        body.items.map(async (image) => {
          const res = await call(app, 'GET', `${base(p)}/${image.id}`, c.user);
          return res.json<ImageBody>();
        }),
      );
      expect(body.items).toEqual(byId);
    }

    // One page further is refused, whatever the page size, with what to do instead.
    for (const [page, perPage] of [
      [102, 10],
      [12, 100],
      [4, 500],
      [1002, 1],
      [100_000, 10],
    ]) {
      const res = await call(app, 'GET', `${base(p)}?page=${page}&per_page=${perPage}`, c.user);
      expect({ page, perPage, status: res.statusCode }).toEqual({ page, perPage, status: 400 });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = res.json<{ code: string; detail: string; errors: unknown[] }>();
      expect(problem).toMatchObject({
        type: 'urn:product-images:problem:page_too_deep',
        status: 400,
        code: 'page_too_deep',
        errors: [{ field: 'page', message: expect.stringContaining('next_cursor') }],
      });
      expect(problem.detail).toContain(`page=${page}&per_page=${perPage}`);
      expect(problem.detail).toContain('next_cursor');
      expect(problem.detail).toContain('cursor parameter');
    }

    // The cursor the deepest page by number hands out reads on to the end, in the same order.
    const beyond: string[] = [];
    cursor = deepest.next_cursor;
    while (cursor) {
      const body: GalleryBody = await read(p, `per_page=10&cursor=${encodeURIComponent(cursor)}`);
      beyond.push(...body.items.map((i) => i.id));
      cursor = body.next_cursor;
    }
    expect(beyond).toEqual(all.slice(1010));
  });

  it('answers 400 invalid_cursor for a cursor that is not one of ours', async () => {
    const p = await bulkGallery(3);
    const forged = Buffer.from(JSON.stringify([2, -1, 'x', 'y'])).toString('base64url');
    for (const cursor of ['not-a-cursor', forged]) {
      const res = await call(app, 'GET', `${base(p)}?cursor=${cursor}`, c.user);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'invalid_cursor', errors: [{ field: 'cursor' }] });
    }
    // An empty one is none, as on the other lists: the first page.
    const first = await call(app, 'GET', `${base(p)}?cursor=&per_page=2`, c.user);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ page: 1, total: 3 });
    expect(first.json().items).toHaveLength(2);
    // Another product's cursor would start this gallery somewhere in it: refused.
    const other = await bulkGallery(3);
    const theirs = (await read(other, 'per_page=1')).next_cursor as string;
    const mixed = await call(app, 'GET', `${base(p)}?cursor=${theirs}`, c.user);
    expect(mixed.statusCode).toBe(400);
    expect(mixed.json()).toMatchObject({ code: 'invalid_cursor' });
  });

  it("refuses one list's cursor on another list: products, images, imports, jobs", async () => {
    await bulkGallery(1);
    await bulkGallery(1);
    const products = await call(app, 'GET', '/api/v1/products?limit=1', c.admin);
    const cursor = products.json<{ next_cursor: string }>().next_cursor;
    expect(cursor).toEqual(expect.any(String));
    for (const list of ['/api/v1/images', '/api/v1/imports', '/api/v1/jobs']) {
      const res = await call(app, 'GET', `${list}?cursor=${cursor}`, c.admin);
      expect({ list, status: res.statusCode, code: res.json<{ code: string }>().code }).toEqual({
        list,
        status: 400,
        code: 'invalid_cursor',
      });
    }
    expect((await call(app, 'GET', `/api/v1/products?cursor=${cursor}`, c.admin)).statusCode).toBe(
      200,
    );
  });

  it('numbers a page reached by cursor as the same page by number is', async () => {
    const p = await bulkGallery(4);
    let page = await read(p, 'per_page=1&page=2');
    expect(page.page).toBe(2);
    for (const expected of [3, 4]) {
      page = await read(p, `per_page=1&cursor=${page.next_cursor}`);
      const byNumber = await read(p, `per_page=1&page=${expected}`);
      expect({ page: page.page, id: page.items[0].id }).toEqual({
        page: expected,
        id: byNumber.items[0].id,
      });
    }
    expect(page.next_cursor).toBeNull();
  });

  it('reads an API key once for a burst of requests, and stops it at once when revoked', async () => {
    const p = await bulkGallery(2);
    const created = await call(app, 'POST', '/api/v1/api-keys', c.admin, { name: 'burst' });
    expect(created.statusCode).toBe(201);
    const { id, key } = created.json<{ id: string; key: string }>();
    const reads = await Promise.all(
      Array.from({ length: 5 }, () => call(app, 'GET', base(p), { apiKey: key })),
    );
    expect(reads.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    // A wrong secret with the key's (cached) prefix is refused.
    const forged =
      `${key.slice(0, -4)}AAAA` === key ? `${key.slice(0, -4)}BBBB` : `${key.slice(0, -4)}AAAA`;
    expect((await call(app, 'GET', base(p), { apiKey: forged })).statusCode).toBe(401);
    expect((await call(app, 'DELETE', `/api/v1/api-keys/${id}`, c.admin)).statusCode).toBe(204);
    const after = await call(app, 'GET', base(p), { apiKey: key });
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('invalid_api_key');
  });

  /** `EXPLAIN ANALYZE` of `sql` prepared, with the plan PostgreSQL makes for any parameters. */
  async function genericPlan(sql: string, params: unknown[]): Promise<unknown> {
    const session = db.createQueryRunner();
    try {
      await session.query('SET plan_cache_mode = force_generic_plan');
      await session.query(`PREPARE gallery_page AS ${sql}`);
      const [{ 'QUERY PLAN': plan }] = await session.query(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE gallery_page(${params.map(literal).join(', ')})`,
      );
      return plan;
    } finally {
      await session.query('DEALLOCATE gallery_page; RESET plan_cache_mode').catch(() => undefined);
      await session.release();
    }
  }

  // The planner's choice on the real server, with the rows of a large gallery in the table.
  (process.env.TEST_DATABASE_URL ? it : it.skip)(
    'reads the first and a deep keyset page of 100,000 images from the index, with no sort',
    async () => {
      const count = 100_000;
      const p = await bulkGallery(count);
      const productId = decodeId(p) as string;
      const repository = app.get(GalleryRepository);
      const { organizationId, galleryVersion } = await db
        .getRepository(Product)
        .findOneByOrFail({ id: productId });
      // The cursor a walk would reach at the last page: that of the image just before it (pages
      // by number stop 1,000 images deep, and 10,000 reads by cursor would take too long here).
      const [before] = await repository.readPage(productId, { offset: count - 11, limit: 1 });
      const cursor = encodeGalleryCursor({ position: before, before: count - 10, productId });
      const after = decodeGalleryCursor(cursor).position;
      const last = await read(p, `per_page=10&cursor=${cursor}`);
      expect(last.items).toHaveLength(10);
      expect(last.next_cursor).toBeNull();
      expect(last.total).toBe(count);

      const ranges: Record<string, GalleryRange> = {
        first: { offset: 0, limit: 11 },
        deep: { after, offset: 0, limit: 11 },
      };
      for (const range of Object.values(ranges)) {
        // The rows as TypeORM's query builder would have made them.
        expect(await repository.readPage(productId, range)).toEqual(
          await repository.pageQuery(productId, range).getMany(),
        );
        const [sql, params] = repository.pageSql(productId, range);
        const [{ 'QUERY PLAN': plan }] = await db.query(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
          params,
        );
        expectIndexOrder(plan);
        // The service runs these pages as prepared statements (PreparedQueries): their generic
        // plan, made for any product and position, is the same index scan.
        expectIndexOrder(await genericPlan(sql, params));
        // A GET by product id reads the product and the page in one query: the same rows, the
        // same scan (and the product's row by its primary key).
        const read = await repository.readProductPage(organizationId, productId, range);
        expect(read?.product).toEqual({ id: productId, imageCount: count, galleryVersion });
        expect(read?.rows).toEqual(await repository.readPage(productId, range));
        expectIndexOrder(
          await genericPlan(...repository.productPageSql(organizationId, productId, range)),
        );
      }
      // A page by number (an OFFSET) is read with its product in one query too, prepared: the
      // same rows as TypeORM's query builder reads, from the ids of the index alone.
      const byNumber = { offset: 990, limit: 11 };
      const numbered = await repository.readProductPage(organizationId, productId, byNumber);
      expect(numbered?.product).toEqual({ id: productId, imageCount: count, galleryVersion });
      expect(numbered?.rows).toEqual(await repository.readPage(productId, byNumber));
      expect(numbered?.rows).toEqual(await repository.pageQuery(productId, byNumber).getMany());
      expect(numbered?.rows).toHaveLength(11);
      await db.query('VACUUM images');
      const [deepSql, deepParams] = repository.pageSql(productId, byNumber);
      expectDeferredJoin(await genericPlan(deepSql, deepParams), 990, 11);
      expectDeferredJoin(
        await genericPlan(...repository.productPageSql(organizationId, productId, byNumber)),
        990,
        11,
      );
      // Another organisation's product is not read.
      expect(
        await repository.readProductPage(randomUUID(), productId, ranges.first),
      ).toBeUndefined();
    },
    120_000,
  );
});
