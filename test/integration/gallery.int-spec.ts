import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { QueryRunner } from 'typeorm';
import type { RequestContext } from '../../src/auth/principal';
import { decodeId, encodeShortId } from '../../src/common/ids/short-id';
import { GalleryQueryDto } from '../../src/images/dto/gallery.dto';
import { GalleryService } from '../../src/images/gallery/gallery.service';
import { ImagesModule } from '../../src/images/images.module';
import type { Product } from '../../src/products/entities/product.entity';
import {
  contextFor,
  newImage,
  newOrganization,
  newProduct,
  storedImage,
} from '../support/factories';
import { solidJpeg } from '../support/fixtures';
import { startIntegrationModule, type IntegrationModule, errorCode } from '../support/integration';
import { eventually } from '../support/eventually';
import { AVAILABLE_BACKENDS } from '../support/test-database';
import { STORAGE_PROVIDER, type StorageProvider } from '../../src/storage/storage-provider';
import { ProductsService } from '../../src/products/products.service';

/** The gallery rules on GalleryService itself: one primary, the order, versions, isolation. */
describe.each(AVAILABLE_BACKENDS)(`${GalleryService.name} on %s`, (backend) => {
  let m: IntegrationModule;
  let gallery: GalleryService;
  let storage: StorageProvider;
  let jpeg: Buffer;
  let ctx: RequestContext;
  let product: Product;

  const code = errorCode;

  /** An image of the product, its original really stored. */
  const image = (values: { isPrimary?: boolean; priority?: number; createdAt?: Date } = {}) =>
    newImage(m.dataSource, {
      organizationId: ctx.organizationId,
      productId: product.id,
      file: { data: jpeg, format: 'jpeg', mimeType: 'image/jpeg', width: 8, height: 8 },
      put: (key, data, contentType) => storage.put(key, data, { contentType, cacheControl: '' }),
      ...values,
    });

  const page = (perPage: number) => Object.assign(new GalleryQueryDto(), { per_page: perPage });
  const listed = async () => gallery.list(ctx, { id: product.id }, page(100));
  const order = async () => (await listed()).items.map((i) => i.id);

  beforeAll(async () => {
    jpeg = await solidJpeg(8, 8);
    m = await startIntegrationModule(backend, {
      imports: [ImagesModule],
      env: { JOB_POLL_INTERVAL_MS: '500' },
    });
    gallery = m.get(GalleryService);
    storage = m.get<StorageProvider>(STORAGE_PROVIDER);
  });
  afterAll(() => m?.close());
  beforeEach(async () => {
    const organization = await newOrganization(m.dataSource);
    ctx = contextFor(organization);
    product = await newProduct(m.dataSource, { organizationId: organization.id });
  });

  it('lists the primary first, then by priority, then newest first', async () => {
    const old = await image({ priority: 1, createdAt: new Date(Date.now() - 60_000) });
    const recent = await image({ priority: 1 });
    const first = await image({ priority: 0 });
    const primary = await image({ isPrimary: true, priority: 5 });
    expect(await order()).toEqual([primary, first, recent, old].map((i) => encodeShortId(i.id)));
  });

  it('makes another image primary, demoting the old one, and bumps the version', async () => {
    const a = await image({ isPrimary: true });
    const b = await image({ priority: 1 });
    const before = (await listed()).version;
    const { image: updated, version } = await gallery.update(
      ctx,
      { id: product.id },
      b.id,
      { is_primary: true },
      [before],
    );
    expect(updated.is_primary).toBe(true);
    expect(version).toBeGreaterThan(before);
    expect(await order()).toEqual([b, a].map((i) => encodeShortId(i.id)));
  });

  it('refuses to leave a product with images without a primary', async () => {
    const a = await image({ isPrimary: true });
    await expect(
      code(gallery.update(ctx, { id: product.id }, a.id, { is_primary: false }, undefined)),
    ).resolves.toBe('primary_required');
  });

  it('refuses a change made against an older version', async () => {
    const a = await image({ isPrimary: true });
    const { version } = await listed();
    await gallery.update(ctx, { id: product.id }, a.id, { title: 'first' }, [version]);
    await expect(
      code(gallery.update(ctx, { id: product.id }, a.id, { title: 'second' }, [version])),
    ).resolves.toBe('gallery_changed');
  });

  it('answers a retried delete with a stale version: the image is gone, not the gallery changed', async () => {
    const a = await image({ isPrimary: true });
    await image({ priority: 1 });
    const { version } = await listed();
    await gallery.remove(ctx, { id: product.id }, a.id, [version]);
    await expect(code(gallery.remove(ctx, { id: product.id }, a.id, [version]))).resolves.toBe(
      'image_not_found',
    );
    await expect(
      code(gallery.update(ctx, { id: product.id }, a.id, { title: 'x' }, [version])),
    ).resolves.toBe('image_not_found');
  });

  it('labels a page with the version and total of the very rows it answers, while the gallery changes', async () => {
    product = await newProduct(m.dataSource, {
      organizationId: ctx.organizationId,
      externalId: `walked-${product.id}`,
    });
    const ids: string[] = [];
    for (const priority of [0, 1, 2, 3]) {
      ids.push(encodeShortId((await image({ isPrimary: priority === 0, priority })).id));
    }
    // Another editor's change commits just after the product is looked up, before its page is
    // read: the gallery reversed (by a GTIN or external id the product is always looked up).
    const products = m.get(ProductsService);
    const find = products.find.bind(products);
    let order = ids;
    /** The gallery's order at each version, as each change answered it. */
    const orders = new Map<number, string[]>([[(await listed()).version, ids]]);
    let last = 0;
    const spy = jest.spyOn(products, 'find').mockImplementation(async (...args) => {
      const found = await find(...args);
      order = [...order].reverse();
      const changed = await gallery.reorder(ctx, { id: product.id }, order, undefined);
      last = changed.version;
      orders.set(
        changed.version,
        changed.items.map((item) => item.id),
      );
      return found;
    });
    try {
      const secondPage = Object.assign(page(2), { page: 2 });
      const reads = [
        await gallery.list(ctx, { externalId: product.externalId! }, page(2)),
        await gallery.list(ctx, { externalId: product.externalId! }, secondPage),
        await gallery.list(ctx, { id: product.id }, secondPage),
      ];
      const changes = spy.mock.calls.length;
      expect(changes).toBeGreaterThanOrEqual(2);
      spy.mockRestore();
      // Each page is a page of the order at the version it names.
      expect([...orders.values()][1]).not.toEqual(ids);
      for (const [i, read] of reads.entries()) {
        const asNamed = orders.get(read.version)!;
        const from = i === 0 ? 0 : 2;
        expect(read.items.map((item) => item.id)).toEqual(asNamed.slice(from, from + 2));
        expect(read.total).toBe(4);
      }
      expect(orders.size).toBe(changes + 1);
      expect((await listed()).version).toBe(last);
    } finally {
      spy.mockRestore();
    }
  });

  it('reorders by a permutation of every image, and refuses anything else', async () => {
    const a = await image({ isPrimary: true });
    const b = await image({ priority: 1 });
    const c = await image({ priority: 2 });
    const ids = [a, c, b].map((i) => encodeShortId(i.id));
    const reordered = await gallery.reorder(ctx, { id: product.id }, ids, undefined);
    expect(reordered.items.map((i) => i.id)).toEqual(ids);
    await expect(
      code(gallery.reorder(ctx, { id: product.id }, ids.slice(1), undefined)),
    ).resolves.toBe('invalid_image_order');
  });

  it('deletes an image and its file, promoting the next one when it was the primary', async () => {
    const a = await image({ isPrimary: true });
    const b = await image({ priority: 1 });
    const dir = join(m.db.env.DATA_DIR, 'media');
    expect(existsSync(join(dir, a.storageKey))).toBe(true);
    await gallery.remove(ctx, { id: product.id }, a.id, undefined);
    // The file goes right after the commit, by the file-deletion job.
    await eventually(() => !existsSync(join(dir, a.storageKey)), 'the file to be deleted');
    const items = (await listed()).items;
    expect(items.map((i) => [i.id, i.is_primary])).toEqual([[encodeShortId(b.id), true]]);
  });

  it('adds an image in one INSERT, without reading its new id first, and answers it as read back', async () => {
    const runner = m.dataSource.createQueryRunner();
    const runners = Object.getPrototypeOf(runner) as QueryRunner;
    await runner.release();
    const original = runners.query;
    const statements: string[] = [];
    const spy = jest.spyOn(runners, 'query').mockImplementation(function (
      this: QueryRunner,
      ...args: Parameters<QueryRunner['query']>
    ) {
      statements.push(args[0]);
      return original.apply(this, args);
    });
    let added;
    try {
      added = await gallery.add(ctx, { id: product.id }, storedImage(), {});
    } finally {
      spy.mockRestore();
    }
    const images = statements.filter((sql) => /"images"/.test(sql));
    expect(images.filter((sql) => /^INSERT/.test(sql))).toHaveLength(1);
    // TypeORM's save() looked the new id up before inserting it: a round trip per upload.
    expect(images.filter((sql) => /FROM "images" "Image"/.test(sql))).toEqual([]);
    // The columns the database fills (created_at, updated_at, defaults) are in the answer.
    const id = decodeId(added.image.id)!;
    expect(added.image).toEqual(await gallery.get(ctx, { id: product.id }, id));
  });

  it("neither shows nor changes another organisation's gallery", async () => {
    const a = await image({ isPrimary: true });
    const stranger = contextFor(await newOrganization(m.dataSource));
    for (const call of [
      gallery.list(stranger, { id: product.id }, page(10)),
      gallery.get(stranger, { id: product.id }, a.id),
      gallery.update(stranger, { id: product.id }, a.id, { title: 'x' }, undefined),
      gallery.remove(stranger, { id: product.id }, a.id, undefined),
    ]) {
      await expect(code(call)).resolves.toBe('product_not_found');
    }
    expect(await order()).toEqual([encodeShortId(a.id)]);
  });
});
