import type { DataSource } from 'typeorm';
import type { RequestContext } from '../../src/auth/principal';
import { decodeId } from '../../src/common/ids/short-id';
import { GalleryQueryDto } from '../../src/images/dto/gallery.dto';
import { StandaloneImagesService } from '../../src/images/assets/standalone-images.service';
import { ImageSource } from '../../src/images/entities/image.entity';
import { GalleryService } from '../../src/images/gallery/gallery.service';
import { ImagesModule } from '../../src/images/images.module';
import { ProductEnrichmentModule } from '../../src/images/product-enrichment/product-enrichment.module';
import { ListProductsQueryDto } from '../../src/products/dto/product.dto';
import { ProductsService } from '../../src/products/products.service';
import type { Product } from '../../src/products/entities/product.entity';
import {
  contextFor,
  newImage,
  newOrganization,
  newProduct,
  storedImage,
} from '../support/factories';
import { settle, startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/**
 * A product's kept image count (products.image_count, changed in the gallery transaction) against
 * count(*) of its images, after gallery changes run concurrently.
 */
describe.each(AVAILABLE_BACKENDS)('Kept image counts on %s', (backend) => {
  let m: IntegrationModule;
  let db: DataSource;
  let gallery: GalleryService;
  let ctx: RequestContext;
  let product: Product;

  async function counts(): Promise<{ kept: number; counted: number }> {
    const [row] = await db.query(
      `SELECT p.image_count AS kept,
              (SELECT count(*)::int FROM images i WHERE i.product_id = p.id) AS counted
         FROM products p WHERE p.id = $1`,
      [product.id],
    );
    return row;
  }

  beforeAll(async () => {
    // ProductEnrichmentModule: product responses with their primary image, as the app shows them.
    m = await startIntegrationModule(backend, {
      imports: [ImagesModule, ProductEnrichmentModule],
    });
    db = m.dataSource;
    gallery = m.get(GalleryService);
  });
  afterAll(() => m?.close());
  beforeEach(async () => {
    const organization = await newOrganization(db);
    ctx = contextFor(organization);
    product = await newProduct(db, { organizationId: organization.id });
  });

  it('stay equal to count(*) under concurrent adds, deletes, attaches and stand-alone deletions', async () => {
    const ref = { id: product.id };
    const standalone = () => newImage(db, { organizationId: ctx.organizationId });
    const existing = await Promise.all(
      Array.from({ length: 6 }, async () => (await gallery.add(ctx, ref, storedImage(), {})).image),
    );
    expect(await counts()).toEqual({ kept: 6, counted: 6 });
    const loose = await Promise.all(Array.from({ length: 8 }, standalone));
    const assets = m.get(StandaloneImagesService);
    await settle([
      ...Array.from({ length: 6 }, () => gallery.add(ctx, ref, storedImage(), {})),
      ...Array.from({ length: 3 }, () => gallery.add(ctx, ref, storedImage(), { isPrimary: true })),
      // Ids as the API shows them are short; the service takes the uuid.
      ...existing.map((image) => gallery.remove(ctx, ref, decodeId(image.id)!, undefined)),
      // Each loose image is attached and deleted at once: one of the two wins.
      ...loose.map((image) => gallery.attach(ctx, ref, image.id, {}, {})),
      ...loose.map((image) => assets.remove(ctx, image.id)),
      ...Array.from({ length: 3 }, () =>
        gallery.replaceImported(ctx, ref, async () => ({
          ...storedImage(),
          source: ImageSource.Import,
        })),
      ),
    ]);
    const after = await counts();
    expect(after.kept).toBe(after.counted);
    // 6 + 6 + 3 added, 6 removed, one import left, and every attach that won.
    expect(after.counted).toBeGreaterThanOrEqual(10);
    const listed = await gallery.list(
      ctx,
      ref,
      Object.assign(new GalleryQueryDto(), { per_page: 500 }),
    );
    expect(listed.total).toBe(after.counted);
    expect(listed.items).toHaveLength(after.counted);
    const products = await m
      .get(ProductsService)
      .list(ctx, Object.assign(new ListProductsQueryDto(), { limit: 20 }));
    const [shown] = products.items;
    expect(shown.image_count).toBe(after.counted);
  });

  it("are not written back by product edits running alongside, nor is the gallery's version", async () => {
    const products = m.get(ProductsService);
    const ref = { id: product.id };
    const edits = (n: number) =>
      Array.from({ length: n }, (_, i) => products.update(ctx, ref, { description: `edit ${i}` }));
    /** The versions the gallery changes answered. */
    const answered: number[] = [];
    const added = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        // Edits queued between the adds, so that they read the product between gallery changes.
        await Promise.all(edits(i % 3));
        const { image, version } = await gallery.add(ctx, ref, storedImage(), {});
        answered.push(version);
        return image;
      }),
    );
    const removed = async (id: string) => {
      answered.push(await gallery.remove(ctx, ref, decodeId(id)!, undefined));
    };
    await settle([...added.slice(0, 5).map((image) => removed(image.id)), ...edits(20)]);
    expect(await counts()).toEqual({ kept: 7, counted: 7 });
    const [{ version }] = await db.query<{ version: string }[]>(
      'SELECT gallery_version AS version FROM products WHERE id = $1',
      [product.id],
    );
    // One version per gallery change (12 adds and 5 deletions), and the gallery at the last.
    expect(new Set(answered).size).toBe(17);
    expect(Number(version)).toBe(Math.max(...answered));
  });

  it('do not bring back a product whose deletion an edit raced', async () => {
    const products = m.get(ProductsService);
    for (let round = 0; round < 10; round++) {
      const racing = await newProduct(db, { organizationId: ctx.organizationId });
      const ref = { id: racing.id };
      await gallery.add(ctx, ref, storedImage(), {});
      await settle([
        ...Array.from({ length: 4 }, () => products.update(ctx, ref, { description: 'late' })),
        products.remove(ctx, ref),
      ]);
      const left = await db.query('SELECT id FROM products WHERE id = $1', [racing.id]);
      expect({ round, left }).toEqual({ round, left: [] });
    }
  });

  it('never show a product being deleted with no images: read, it is whole or not found', async () => {
    const products = m.get(ProductsService);
    const seen: string[] = [];
    for (let round = 0; round < 20; round++) {
      const racing = await newProduct(db, { organizationId: ctx.organizationId });
      const ref = { id: racing.id };
      await gallery.add(ctx, ref, storedImage(), {});
      const reads = Array.from({ length: 6 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i));
        const [one, page] = await Promise.allSettled([
          products.get(ctx, ref),
          products.list(ctx, Object.assign(new ListProductsQueryDto(), { limit: 100 })),
        ]);
        seen.push(
          one.status === 'fulfilled'
            ? `${one.value.image_count} ${one.value.primary_image ? 'primary' : 'none'}`
            : ((one.reason as { code?: string }).code ?? String(one.reason)),
        );
        if (page.status === 'rejected') throw page.reason;
        for (const item of page.value.items.filter((p) => decodeId(p.id) === racing.id)) {
          seen.push(`listed ${item.image_count} ${item.primary_image ? 'primary' : 'none'}`);
        }
      });
      await settle([...reads, products.remove(ctx, ref)]);
    }
    expect(new Set(seen)).toEqual(
      new Set(
        seen.filter((s) => ['1 primary', 'product_not_found', 'listed 1 primary'].includes(s)),
      ),
    );
  });
});
