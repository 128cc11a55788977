import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { CursorPosition } from '../common/pagination/cursor';
import { PreparedQueries } from '../database/prepared-queries';
import { NEXT_VERSION, Product } from './entities/product.entity';

/** How a query names one product of an organisation: by id, GTIN-14 or external id. */
export type ProductKey = ({ id: string } | { gtin: string } | { externalId: string }) & {
  organizationId: string;
};

/** The column a key names the product by, and its value. */
function keyColumn(key: ProductKey): ['id' | 'gtin' | 'external_id', string] {
  if ('id' in key) return ['id', key.id];
  if ('gtin' in key) return ['gtin', key.gtin];
  return ['external_id', key.externalId];
}

/** The columns a new product is given; the database fills in the rest. */
export type NewProduct = Pick<
  Product,
  'organizationId' | 'name' | 'slug' | 'gtin' | 'externalId' | 'description'
>;

/** The columns a product's PATCH may set. */
export type ProductColumns = Partial<
  Pick<Product, 'name' | 'slug' | 'gtin' | 'externalId' | 'description'>
>;

/** Names the parameters of an UPDATE's new values, apart from its own (`newValue_name`, …). */
const NEW_VALUE_PREFIX = 'newValue_';

function valuesOf(columns: ProductColumns): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(columns).map(([property, value]) => [`${NEW_VALUE_PREFIX}${property}`, value]),
  );
}

/** A page of an organisation's products: exact-match filters, newest first, after a cursor. */
export interface ProductPageQuery {
  organizationId: string;
  slug?: string;
  gtin?: string;
  externalId?: string;
  after?: CursorPosition;
  /** Rows to read: one more than the page, to know whether another page follows. */
  take: number;
}

/** The products table: every query products/ makes. */
@Injectable()
export class ProductsRepository {
  /** {@link findOne}'s SQL for each kind of key. */
  private readonly findOneSql = new Map<string, string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly prepared: PreparedQueries,
  ) {}

  /** Inserts a product; unique violations (slug, GTIN, external id) reach the caller. */
  insert(fields: NewProduct): Promise<Product> {
    const products = this.dataSource.getRepository(Product);
    return products.save(products.create(fields));
  }

  /** Which of these slugs the organisation's products have. */
  async takenSlugs(organizationId: string, slugs: string[]): Promise<Set<string>> {
    const rows: { slug: string }[] = await this.dataSource.query(
      'SELECT slug FROM products WHERE organization_id = $1 AND slug = ANY($2::text[])',
      [organizationId, slugs],
    );
    return new Set(rows.map((row) => row.slug));
  }

  /**
   * Sets these columns of the organisation's product `key` names when the UPDATE runs (a GTIN
   * or external id moved to another product meanwhile names that one, never the one it left), if
   * it is at one of the `expected` versions (any, when undefined); the table's trigger counts a
   * change in `version`. Answers its id and the version it is at now (new, or unchanged for no
   * columns), `changed` with the version it is at when that is not one expected, or null when
   * there is no such product (deleted meanwhile). Unique violations reach the caller. Only the
   * columns given are written: the gallery's own (`image_count`, `gallery_version`) change under
   * the gallery's lock, and saving a row read before would write stale values of them back (and
   * insert a deleted product again).
   */
  async update(
    key: ProductKey,
    columns: ProductColumns,
    expected?: number[],
  ): Promise<{ id: string; version: number; changed?: true } | null> {
    const setting = Object.keys(columns).length > 0;
    for (let attempt = 1; ; attempt++) {
      const updated = setting ? await this.updateOne(key, columns, expected) : undefined;
      if (updated) return updated;
      // Nothing to set, or not set: the product is missing or (when not set) at a version not
      // expected, whatever it is at by the time this reads it.
      const current = await this.dataSource
        .getRepository(Product)
        .findOne({ where: key, select: { id: true, version: true } });
      if (!current) return null;
      const found = { id: current.id, version: current.version };
      const stale = expected !== undefined && !expected.includes(current.version);
      if (!setting) return stale ? { ...found, changed: true } : found;
      // A GTIN or external id moved to this product while the UPDATE ran, which read the rows as
      // they were before: it is set again, once.
      if (stale || attempt === 2) return { ...found, changed: true };
    }
  }

  private async updateOne(
    key: ProductKey,
    columns: ProductColumns,
    expected?: number[],
  ): Promise<{ id: string; version: number } | undefined> {
    const [column, value] = keyColumn(key);
    const qb = this.dataSource
      .createQueryBuilder()
      .update(Product)
      // The version is counted by the table's trigger (migration 1797500000000); updated_at moves
      // with it, not with an UPDATE that sets the fields as they were (TypeORM's own would).
      .set({ ...columns, updatedAt: () => this.updatedAtIfChanged(columns) })
      .setParameters(valuesOf(columns))
      .where(`${column} = :value AND organization_id = :organizationId`, {
        value,
        organizationId: key.organizationId,
      })
      .returning(['id', 'version']);
    if (expected) qb.andWhere('version = ANY(:expected)', { expected });
    // Raw rows: node-postgres gives a bigint as a string.
    const [row] = (await qb.execute()).raw as { id: string; version: string }[];
    return row && { id: row.id, version: Number(row.version) };
  }

  /**
   * The SET expression of `updated_at` for an UPDATE of these columns: now if one of them is
   * given a value it does not have (the right side of SET reads the row as it was), else as it
   * was. Its values are the parameters of {@link valuesOf}.
   */
  private updatedAtIfChanged(columns: ProductColumns): string {
    const metadata = this.dataSource.getMetadata(Product);
    const changes = Object.keys(columns).map((property) => {
      const column = metadata.findColumnWithPropertyName(property)!;
      return `"${column.databaseName}" IS DISTINCT FROM :${NEW_VALUE_PREFIX}${property}`;
    });
    return `CASE WHEN ${changes.join(' OR ')} THEN CURRENT_TIMESTAMP ELSE "updated_at" END`;
  }

  page(query: ProductPageQuery): Promise<Product[]> {
    const qb = this.dataSource
      .getRepository(Product)
      .createQueryBuilder('p')
      .where('p.organization_id = :org', { org: query.organizationId })
      .orderBy('p.created_at', 'DESC')
      .addOrderBy('p.id', 'DESC')
      .take(query.take);
    if (query.slug !== undefined) qb.andWhere('p.slug = :slug', { slug: query.slug });
    if (query.gtin !== undefined) qb.andWhere('p.gtin = :gtin', { gtin: query.gtin });
    if (query.externalId !== undefined) {
      qb.andWhere('p.external_id = :externalId', { externalId: query.externalId });
    }
    if (query.after) qb.andWhere('(p.created_at, p.id) < (:createdAt, :id)', query.after);
    return qb.getMany();
  }

  /**
   * The organisation's product by id, GTIN or external id, or null. Every product-scoped request
   * (a gallery GET, say) starts here, so the SQL is TypeORM's built once per kind of key, and the
   * row is hydrated from the metadata: the query builder's work on every request cost more CPU
   * than the query. It runs as a prepared statement (PreparedQueries).
   */
  async findOne(key: ProductKey): Promise<Product | null> {
    const [column, value] = keyColumn(key);
    let sql = this.findOneSql.get(column);
    if (sql === undefined) {
      [sql] = this.dataSource
        .getRepository(Product)
        .createQueryBuilder('p')
        // Placeholders: only the text is kept ($1, $2), the values are given on each call.
        .where(`p.${column} = :value AND p.organization_id = :organizationId`, {
          value,
          organizationId: key.organizationId,
        })
        .limit(1)
        .getQueryAndParameters();
      this.findOneSql.set(column, sql);
    }
    const rows = await this.prepared.query(sql, [value, key.organizationId]);
    return rows.length > 0 ? this.hydrate(rows[0]) : null;
  }

  /** A row selected as `p` (`p_<column>`) as a Product, each value as TypeORM hydrates it. */
  private hydrate(row: Record<string, unknown>): Product {
    const metadata = this.dataSource.getMetadata(Product);
    const product = metadata.create() as Product;
    for (const column of metadata.columns) {
      const value = row[`p_${column.databaseName}`];
      if (value !== undefined) {
        column.setEntityValue(product, this.dataSource.driver.prepareHydratedValue(value, column));
      }
    }
    return product;
  }

  /** The product, row-locked until the caller's transaction ends. */
  /**
   * The product `key` names, locked until the transaction ends. A locking read that waited for
   * another writer re-checks only the rows its snapshot held: when that writer moved the GTIN or
   * external id from the row it held to another, the read finds none, and a second read (a new
   * snapshot, READ COMMITTED) finds the product that has it now.
   */
  async lockOne(manager: EntityManager, key: ProductKey): Promise<Product | null> {
    const lockedRead = () =>
      manager.findOne(Product, { where: key, lock: { mode: 'pessimistic_write' } });
    return (await lockedRead()) ?? ('id' in key ? null : lockedRead());
  }

  async delete(manager: EntityManager, productId: string): Promise<void> {
    await manager.delete(Product, { id: productId });
  }

  /**
   * A new gallery version (NEXT_VERSION) and `imageCountDelta` on the image count, in one UPDATE
   * in the caller's transaction; returns the new version and count.
   */
  async bumpGalleryVersion(
    manager: EntityManager,
    productId: string,
    imageCountDelta = 0,
  ): Promise<{ version: number; imageCount: number }> {
    const result = await manager
      .createQueryBuilder()
      .update(Product)
      .set({
        galleryVersion: () => NEXT_VERSION,
        imageCount: () => 'image_count + :imageCountDelta',
      })
      .setParameter('imageCountDelta', imageCountDelta)
      .where('id = :productId', { productId })
      .returning('gallery_version, image_count')
      .execute();
    // Raw rows: node-postgres gives a bigint as a string.
    const [row] = result.raw as { gallery_version: string; image_count: number }[];
    return { version: Number(row.gallery_version), imageCount: row.image_count };
  }
}
