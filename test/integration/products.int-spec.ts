import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestContext } from '../../src/auth/principal';
import { decodeId } from '../../src/common/ids/short-id';
import type { ProductDto } from '../../src/products/dto/product.dto';
import { Product } from '../../src/products/entities/product.entity';
import { ProductsModule } from '../../src/products/products.module';
import { ProductsRepository } from '../../src/products/products.repository';
import { ProductsService } from '../../src/products/products.service';
import { contextFor, newImage, newOrganization, newProduct } from '../support/factories';
import { startIntegrationModule, type IntegrationModule, errorCode } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** The product rules, on ProductsService itself: no HTTP, no other module than its own. */
describe.each(AVAILABLE_BACKENDS)(`${ProductsService.name} on %s`, (backend) => {
  let m: IntegrationModule;
  let products: ProductsService;
  let ctx: RequestContext;
  let otherCtx: RequestContext;

  const uuidOf = (dto: ProductDto): string => decodeId(dto.id)!;
  const create = (body: { name: string } & Record<string, unknown>, as = ctx) =>
    products.create(as, body);
  const code = errorCode;

  beforeAll(async () => {
    m = await startIntegrationModule(backend, { imports: [ProductsModule] });
    products = m.get(ProductsService);
  });
  afterAll(() => m?.close());
  // Each test in organisations of its own: slugs, GTINs and external ids are unique per organisation.
  beforeEach(async () => {
    ctx = contextFor(await newOrganization(m.dataSource));
    otherCtx = contextFor(await newOrganization(m.dataSource));
  });

  describe('create', () => {
    it('makes the slug from the name and stores the GTIN as GTIN-14', async () => {
      const dto = await create({ name: 'Crème Brûlée 250 g', gtin: '036000291452' });
      expect(dto).toMatchObject({
        name: 'Crème Brûlée 250 g',
        slug: 'creme-brulee-250-g',
        gtin: '00036000291452',
        external_id: null,
        description: '',
        primary_image: null,
        image: null,
        image_count: 0,
      });
      const row = await m.dataSource.getRepository(Product).findOneByOrFail({ id: uuidOf(dto) });
      expect(row).toMatchObject({ organizationId: ctx.organizationId, gtin: '00036000291452' });
    });

    it('numbers generated slugs, and refuses a taken explicit one', async () => {
      const slugs = [];
      for (const name of ['Teapot', 'Teapot', 'teapot!']) slugs.push((await create({ name })).slug);
      expect(slugs).toEqual(['teapot', 'teapot-2', 'teapot-3']);
      await expect(code(create({ name: 'Other', slug: 'teapot' }))).resolves.toBe('slug_taken');
    });

    it('makes a slug of a name in any script, and one for a name 51 products share', async () => {
      const names = ['Молоко', 'Хлеб', '緑茶', '日本茶', 'Straße'];
      const slugs = [];
      for (const name of names) slugs.push((await create({ name })).slug);
      expect(slugs).toEqual(['moloko', 'khleb', 'lucha', 'ribencha', 'strasse']);
      // Past "mug-50", a random suffix: a product without a slug is never refused for its name.
      const made = [];
      for (let i = 0; i < 51; i++) made.push((await create({ name: 'Mug' })).slug);
      // The slugs taken are asked for once: not one failed INSERT per product already so named.
      const inserts = jest.spyOn(m.get(ProductsRepository), 'insert');
      made.push((await create({ name: 'Mug' })).slug);
      expect(inserts).toHaveBeenCalledTimes(1);
      inserts.mockRestore();
      expect(made.slice(48, 50)).toEqual(['mug-49', 'mug-50']);
      expect(made.slice(50)).toEqual([
        expect.stringMatching(/^mug-[0-9a-z]{7}$/),
        expect.stringMatching(/^mug-[0-9a-z]{7}$/),
      ]);
      expect(new Set(made).size).toBe(52);
    });

    it('gives a generated slug the first number free, between slugs given explicitly', async () => {
      await create({ name: 'Vase', slug: 'vase' });
      await create({ name: 'Vase', slug: 'vase-3' });
      const slugs = [];
      for (let i = 0; i < 3; i++) slugs.push((await create({ name: 'Vase' })).slug);
      expect(slugs).toEqual(['vase-2', 'vase-4', 'vase-5']);
    });

    it('refuses a GTIN or external id already used in the organisation', async () => {
      await create({ name: 'First', gtin: '96385074', external_id: 'ext-1' });
      await expect(code(create({ name: 'Second', gtin: '00000096385074' }))).resolves.toBe(
        'gtin_taken',
      );
      await expect(code(create({ name: 'Third', external_id: 'ext-1' }))).resolves.toBe(
        'external_id_taken',
      );
    });

    it('allows the same slug, GTIN and external id in another organisation', async () => {
      const body = { name: 'Shared', slug: 'shared', gtin: '4006381333931', external_id: 'shared' };
      await create(body);
      await expect(create(body, otherCtx)).resolves.toMatchObject({ slug: 'shared' });
    });

    it('refuses an invalid GTIN', async () => {
      await expect(code(create({ name: 'Bad', gtin: '4006381333932' }))).resolves.toBe(
        'invalid_gtin',
      );
    });
  });

  describe('get', () => {
    it('finds a product by id, by any form of its GTIN and by external id', async () => {
      const dto = await create({ name: 'Findable', gtin: '036000291452', external_id: 'find-me' });
      const id = uuidOf(dto);
      for (const ref of [
        { id },
        { gtin: '036000291452' },
        { gtin: '0036000291452' },
        { gtin: '00036000291452' },
        { externalId: 'find-me' },
      ]) {
        await expect(products.get(ctx, ref)).resolves.toMatchObject({ id: dto.id });
      }
    });

    it("does not find another organisation's product, by any reference", async () => {
      const theirs = await newProduct(m.dataSource, {
        organizationId: otherCtx.organizationId,
        gtin: '00012345678905',
        externalId: 'theirs',
      });
      for (const ref of [{ id: theirs.id }, { gtin: '012345678905' }, { externalId: 'theirs' }]) {
        await expect(code(products.get(ctx, ref))).resolves.toBe('product_not_found');
      }
      await expect(products.get(otherCtx, { id: theirs.id })).resolves.toMatchObject({
        external_id: 'theirs',
      });
    });

    it('refuses a malformed GTIN or external id before looking', async () => {
      await expect(code(products.get(ctx, { gtin: '123' }))).resolves.toBe('invalid_gtin');
      await expect(code(products.get(ctx, { externalId: '..' }))).resolves.toBe(
        'invalid_external_id',
      );
    });
  });

  describe('list', () => {
    it('pages through the organisation’s products only, newest first', async () => {
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        made.push(uuidOf(await create({ name: `P${i}` })));
        // created_at is kept to the millisecond (rounded): two products made within one are
        // ordered by id, not by creation, so each is made in a later millisecond than the last.
        await sleep(3);
      }
      await newProduct(m.dataSource, { organizationId: otherCtx.organizationId });
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await products.list(ctx, { limit: 2, cursor });
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map(uuidOf));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual([...made].reverse());
    });

    it('filters by slug, GTIN and external id', async () => {
      const a = await create({ name: 'Alpha', gtin: '96385074', external_id: 'a' });
      await create({ name: 'Beta', external_id: 'b' });
      const only = async (query: object) =>
        (await products.list(ctx, { limit: 10, ...query })).items.map((p) => p.id);
      await expect(only({ slug: 'alpha' })).resolves.toEqual([a.id]);
      await expect(only({ gtin: '96385074' })).resolves.toEqual([a.id]);
      await expect(only({ external_id: 'a' })).resolves.toEqual([a.id]);
      await expect(only({ slug: 'nothing' })).resolves.toEqual([]);
    });
  });

  describe('update', () => {
    it('changes the given fields only, by id, GTIN or external id', async () => {
      const dto = await create({ name: 'Before', gtin: '036000291452', external_id: 'upd' });
      const byGtin = await products.update(ctx, { gtin: '036000291452' }, { name: 'After' });
      expect(byGtin).toMatchObject({ id: dto.id, name: 'After', slug: dto.slug, gtin: dto.gtin });
      const byExternal = await products.update(ctx, { externalId: 'upd' }, { description: 'd' });
      expect(byExternal).toMatchObject({ name: 'After', description: 'd' });
      const cleared = await products.update(ctx, { id: uuidOf(dto) }, { gtin: null });
      expect(cleared.gtin).toBeNull();
    });

    it('refuses a slug, GTIN or external id another product of the organisation has', async () => {
      await create({ name: 'Taken', slug: 'taken', gtin: '4006381333931', external_id: 'taken' });
      const mine = { id: uuidOf(await create({ name: 'Mine' })) };
      await expect(code(products.update(ctx, mine, { slug: 'taken' }))).resolves.toBe('slug_taken');
      await expect(code(products.update(ctx, mine, { gtin: '4006381333931' }))).resolves.toBe(
        'gtin_taken',
      );
      await expect(code(products.update(ctx, mine, { external_id: 'taken' }))).resolves.toBe(
        'external_id_taken',
      );
    });

    it("cannot change another organisation's product", async () => {
      const theirs = await newProduct(m.dataSource, { organizationId: otherCtx.organizationId });
      await expect(
        code(products.update(ctx, { id: theirs.id }, { name: 'Mine now' })),
      ).resolves.toBe('product_not_found');
      const row = await m.dataSource.getRepository(Product).findOneByOrFail({ id: theirs.id });
      expect(row.name).toBe(theirs.name);
    });
  });

  describe('versions', () => {
    it('moves on with each change to its own fields, and refuses one made against another version', async () => {
      const dto = await create({ name: 'Versioned' });
      const v1 = dto.version;
      const ref = { id: uuidOf(dto) };
      const two = await products.update(ctx, ref, { name: 'Two' }, [v1]);
      expect(two).toMatchObject({ name: 'Two' });
      const v2 = two.version;
      expect(v2).toBeGreaterThan(v1);
      await expect(code(products.update(ctx, ref, { name: 'Lost' }, [v1]))).resolves.toBe(
        'product_changed',
      );
      // Nothing to change: checked all the same, and no new version.
      await expect(code(products.update(ctx, ref, {}, [v1]))).resolves.toBe('product_changed');
      await expect(products.update(ctx, ref, {}, [v2])).resolves.toMatchObject({ version: v2 });
      await expect(products.get(ctx, ref)).resolves.toMatchObject({ name: 'Two', version: v2 });
    });

    it('draws versions no other product has had, its gallery’s included', async () => {
      const [a, b] = [await create({ name: 'First' }), await create({ name: 'Second' })];
      const changed = await products.update(ctx, { id: uuidOf(a) }, { name: 'First again' });
      const galleries = await m.dataSource.query<{ gallery_version: string }[]>(
        `SELECT gallery_version FROM products WHERE id = ANY($1)`,
        [[uuidOf(a), uuidOf(b)]],
      );
      const versions = [a.version, changed.version, b.version];
      versions.push(...galleries.map((row) => Number(row.gallery_version)));
      expect(new Set(versions).size).toBe(5);
    });

    it('counts a change whoever makes it, and none for one that changes nothing', async () => {
      const made = await create({ name: 'Anyone' });
      const ref = { id: uuidOf(made) };
      // A plain UPDATE, as an instance of an older version (or psql) makes it.
      await m.dataSource.query(`UPDATE products SET name = 'Someone' WHERE id = $1`, [ref.id]);
      const v2 = (await products.get(ctx, ref)).version;
      expect(v2).toBeGreaterThan(made.version);
      // The gallery's own columns, and fields set as they were: no change of the product's.
      await m.dataSource.query(
        `UPDATE products SET name = 'Someone', gallery_version = nextval('entity_versions') WHERE id = $1`,
        [ref.id],
      );
      await expect(products.update(ctx, ref, { name: 'Someone' }, [v2])).resolves.toMatchObject({
        version: v2,
      });
      const v3 = (await products.update(ctx, ref, { description: 'd' }, [v2])).version;
      expect(v3).toBeGreaterThan(v2);
    });

    it('leaves updated_at alone for a change that changes nothing, as it does the version', async () => {
      const made = await create({ name: 'Still', description: 'same', external_id: 'still' });
      const ref = { id: uuidOf(made) };
      const then = new Date('2020-01-01T00:00:00.000Z');
      await m.dataSource.query(`UPDATE products SET updated_at = $2 WHERE id = $1`, [ref.id, then]);
      const same = { name: 'Still', description: 'same', gtin: null, external_id: 'still' };
      await expect(products.update(ctx, ref, same, [made.version])).resolves.toMatchObject({
        version: made.version,
        updated_at: then,
      });
      const changed = await products.update(ctx, ref, { ...same, description: 'new' });
      expect(changed.version).toBeGreaterThan(made.version);
      expect(changed.updated_at.getTime()).toBeGreaterThan(then.getTime());
    });

    it('lets one of several concurrent changes from the same version through', async () => {
      const made = await create({ name: 'Raced' });
      const ref = { id: uuidOf(made) };
      const names = ['a', 'b', 'c', 'd', 'e'];
      const outcomes = await Promise.all(
        names.map((name) => code(products.update(ctx, ref, { name }, [made.version]))),
      );
      expect(outcomes.filter((o) => o === 'product_changed')).toHaveLength(names.length - 1);
      const row = await m.dataSource.getRepository(Product).findOneByOrFail(ref);
      expect(row.version).toBeGreaterThan(made.version);
      expect(names).toContain(row.name);
    });

    it('keeps a product, and its images, that changed since the version a delete names', async () => {
      const product = await newProduct(m.dataSource, { organizationId: ctx.organizationId });
      await newImage(m.dataSource, { organizationId: ctx.organizationId, productId: product.id });
      const { version } = await products.update(ctx, { id: product.id }, { description: 'edited' });
      await expect(code(products.remove(ctx, { id: product.id }, [product.version]))).resolves.toBe(
        'product_changed',
      );
      await expect(products.get(ctx, { id: product.id })).resolves.toMatchObject({
        image_count: 1,
        version,
      });
      await products.remove(ctx, { id: product.id }, [version]);
      await expect(code(products.get(ctx, { id: product.id }))).resolves.toBe('product_not_found');
    });
  });

  describe('remove', () => {
    it('deletes the product and its images, by id, GTIN or external id', async () => {
      const refs = [
        (p: Product) => ({ id: p.id }),
        (p: Product) => ({ gtin: p.gtin! }),
        (p: Product) => ({ externalId: p.externalId! }),
      ];
      for (const [i, refOf] of refs.entries()) {
        const product = await newProduct(m.dataSource, {
          organizationId: ctx.organizationId,
          gtin: ['00000000000017', '00000000000024', '00000000000031'][i],
          externalId: `gone-${i}`,
        });
        await newImage(m.dataSource, { organizationId: ctx.organizationId, productId: product.id });
        await products.remove(ctx, refOf(product));
        await expect(code(products.get(ctx, { id: product.id }))).resolves.toBe(
          'product_not_found',
        );
        const [{ n }] = await m.dataSource.query<{ n: number }[]>(
          'SELECT count(*)::int AS n FROM images WHERE product_id = $1',
          [product.id],
        );
        expect(n).toBe(0);
      }
    });

    it("cannot delete another organisation's product", async () => {
      const theirs = await newProduct(m.dataSource, { organizationId: otherCtx.organizationId });
      await expect(code(products.remove(ctx, { id: theirs.id }))).resolves.toBe(
        'product_not_found',
      );
      await expect(products.get(otherCtx, { id: theirs.id })).resolves.toMatchObject({
        name: theirs.name,
      });
    });
  });
});
