import { Injectable } from '@nestjs/common';
import {
  DataSource,
  type EntityManager,
  type ObjectLiteral,
  type SelectQueryBuilder,
} from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { RequestContext } from '../../auth/principal';
import { PreparedQueries } from '../../database/prepared-queries';
import { Image, ImageSource } from '../entities/image.entity';
import type { GalleryPosition } from './gallery-cursor';

/**
 * Display order (Closient): the primary first, then priority ascending, then newest first (the id
 * last, so the order is total). As `(is_primary, -priority, created_at, id)` descending, one
 * direction for every column: IDX_images_gallery_order read backwards, and a keyset position is
 * one row comparison (see migrations/1796100000000-GalleryKeysetIndexAndImageCount.ts).
 */
const GALLERY_KEY = ['i.is_primary', '-i.priority', 'i.created_at', 'i.id'] as const;

/** Orders a query of images (aliased `i`) in display order. */
function inGalleryOrder<T extends ObjectLiteral>(qb: SelectQueryBuilder<T>): SelectQueryBuilder<T> {
  const [first, ...rest] = GALLERY_KEY;
  return rest.reduce((q, column) => q.addOrderBy(column, 'DESC'), qb.orderBy(first, 'DESC'));
}

/**
 * Column types whose values node-postgres gives as the entity holds them: TypeORM's
 * PostgresDriver.prepareHydratedValue converts dates read as text, times, enums, arrays, cubes,
 * hstores and vectors, and applies a transformer; a value of these types without a transformer
 * it answers as it is. Such a value is taken as it is here, without the call: every gallery GET
 * hydrates a page of rows of about 30 columns, and that call on each was a good part of it.
 */
const AS_READ: ReadonlySet<unknown> = new Set([
  'uuid',
  'varchar',
  'character varying',
  'text',
  'char',
  'character',
  'integer',
  'int',
  'int4',
  'boolean',
  'bool',
  'jsonb',
  'json',
]);

/** Image's columns as {@link hydrate} reads them: the result's key, the column, read as it is. */
let imageColumns: { key: string; column: ColumnMetadata; asRead: boolean }[] | undefined;

/** Rows selected as `i` (`i_<column>`) as Image entities, each value as TypeORM hydrates it. */
function hydrate(manager: EntityManager, rows: Record<string, unknown>[]): Image[] {
  const metadata = manager.connection.getMetadata(Image);
  const driver = manager.connection.driver;
  imageColumns ??= metadata.columns.map((column) => ({
    key: `i_${column.databaseName}`,
    column,
    asRead:
      !column.transformer &&
      !column.isArray &&
      !column.relationMetadata &&
      !column.embeddedMetadata &&
      AS_READ.has(column.type),
  }));
  const columns = imageColumns;
  return rows.map((row) => {
    const image = metadata.create() as Image & Record<string, unknown>;
    for (const { key, column, asRead } of columns) {
      const value = row[key];
      if (value === undefined) continue;
      if (asRead) {
        image[column.propertyName] = value;
        continue;
      }
      const hydrated: unknown = driver.prepareHydratedValue(value, column);
      // A plain column is a property; TypeORM places a relation's or an embedded one.
      if (column.relationMetadata || column.embeddedMetadata)
        column.setEntityValue(image, hydrated);
      else image[column.propertyName] = hydrated;
    }
    return image;
  });
}

/** Which rows of a gallery to read: after a keyset position, or from an offset. */
export interface GalleryRange {
  after?: GalleryPosition;
  offset: number;
  limit: number;
}

/**
 * Whether a page is read from an OFFSET (by number, past the first): the database steps over the
 * rows before it, so its query steps over ids alone (see {@link GalleryRepository.pageSql}). Pure.
 */
export function readsFromOffset(range: GalleryRange): boolean {
  return !range.after && range.offset > 0;
}

/** The kinds of page query: the first page, a page from an OFFSET, a page after a cursor. */
type PageKind = 'first' | 'offset' | 'after';

/** What a gallery page needs of its product: its id, kept image count and gallery version. */
export interface GalleryHead {
  id: string;
  imageCount: number;
  galleryVersion: number;
}

/**
 * The images of galleries as rows. Every method takes the transaction's EntityManager (a gallery
 * change runs in one, under the product's lock), or reads through the DataSource's when given none.
 */
@Injectable()
export class GalleryRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly prepared: PreparedQueries,
  ) {}

  /** The page query's text for each kind of page, `{limit}` for its LIMIT: built once. */
  private readonly pageSqlText = new Map<PageKind, string>();

  /**
   * Up to `range.limit` images in display order, after `range.after` (an index range scan
   * starting there, whatever the depth) or else from `range.offset`. Never counts: the gallery's
   * total is the product's kept image count. The SQL is TypeORM's, built once per kind of page,
   * and the rows become entities from the metadata: every gallery GET runs this, and building the
   * query and hydrating it through the query builder each time was the most CPU of its reads.
   * Outside a transaction, every page runs as a prepared statement (PreparedQueries): its text
   * differs only by its LIMIT (an OFFSET is a parameter), so a few statements serve every client.
   */
  async readPage(
    productId: string,
    range: GalleryRange,
    manager?: EntityManager,
  ): Promise<Image[]> {
    const [sql, parameters] = this.pageSql(productId, range, manager);
    const through = manager ?? this.dataSource.manager;
    const rows = manager
      ? await through.query<Record<string, unknown>[]>(sql, parameters)
      : await this.prepared.query(sql, parameters);
    return hydrate(through, rows);
  }

  /**
   * The organisation's product `productId` and a page of its gallery, in one query (see
   * {@link productPageSql}); undefined when the organisation has no such product. One statement,
   * so the version and total it answers are those of the very rows it answers (read apart, a
   * change committed in between labelled the new order with the old version). It also costs one
   * round trip to the database instead of two: a gallery GET's rate went from about 0.6 to about
   * 0.7 of the minimal server's (bench/). Prepared (PreparedQueries), whatever the page.
   */
  async readProductPage(
    organizationId: string,
    productId: string,
    range: GalleryRange,
  ): Promise<{ product: GalleryHead; rows: Image[] } | undefined> {
    const [sql, parameters] = this.productPageSql(organizationId, productId, range);
    const rows = await this.prepared.query(sql, parameters);
    if (rows.length === 0) return undefined;
    const [first] = rows;
    const product = {
      id: productId,
      imageCount: first.p_image_count as number,
      // A bigint, which node-postgres gives as a string.
      galleryVersion: Number(first.p_gallery_version),
    };
    // An empty gallery is the product's row alone, joined to no image.
    return { product, rows: first.i_id === null ? [] : hydrate(this.dataSource.manager, rows) };
  }

  /**
   * {@link readProductPage}'s SQL: the page query (from its OFFSET, if any), whose `$1` is the
   * product's id, joined to that product's row in the organisation. Its plan is tested with the
   * page's (an index scan, no sort).
   */
  productPageSql(
    organizationId: string,
    productId: string,
    range: GalleryRange,
  ): [string, unknown[]] {
    const [page, parameters] = this.pageSql(productId, range);
    const sql =
      `SELECT "p"."image_count" AS "p_image_count", "p"."gallery_version" AS "p_gallery_version", ` +
      `"page".* FROM "products" "p" LEFT JOIN (${page}) "page" ON true ` +
      `WHERE "p"."id" = $1 AND "p"."organization_id" = $${parameters.length + 1}`;
    return [sql, [...parameters, organizationId]];
  }

  /**
   * The SQL and parameters {@link readPage} runs (its plan is tested: an index scan, no sort).
   * The LIMIT is a number in the text, as TypeORM writes it (an integer, validated before); an
   * OFFSET is a parameter, so that one statement serves every depth.
   */
  pageSql(
    productId: string,
    range: GalleryRange,
    manager: EntityManager = this.dataSource.manager,
  ): [string, unknown[]] {
    const kind: PageKind = range.after ? 'after' : readsFromOffset(range) ? 'offset' : 'first';
    let text = this.pageSqlText.get(kind);
    if (text === undefined) {
      text = kind === 'offset' ? this.offsetPageText(manager) : this.pageText(range, manager);
      this.pageSqlText.set(kind, text);
    }
    const sql = text.replace('{limit}', String(Math.trunc(range.limit)));
    if (kind === 'offset') return [sql, [productId, range.offset]];
    if (!range.after) return [sql, [productId]];
    const { isPrimary, priority, createdAt, id } = range.after;
    return [sql, [productId, isPrimary, -priority, createdAt, id]];
  }

  /** TypeORM's query of a page from its start or after a cursor, then its LIMIT. */
  private pageText(range: GalleryRange, manager: EntityManager): string {
    const [text] = this.orderedQuery('', range.after, manager).getQueryAndParameters();
    return `${text} LIMIT {limit}`;
  }

  /**
   * A page from an OFFSET as a deferred join: the OFFSET steps over the ids of the rows before the
   * page in display order, read from IDX_images_gallery_order alone (an index-only scan where the
   * table's pages are all-visible: the index includes `priority`, which its key has only as an
   * expression), and only the page's rows are read from the table, by their ids, for their
   * columns. Stepping over the whole rows read each of them from the table, every column
   * extracted: at 1,000 deep, about 110 of the table's pages for 10 rows, where this reads about
   * 15 of the index's and 4 per row answered. The same rows in the same order: the ids are a
   * page of the same query, and the page is ordered again by the same (total) key.
   */
  private offsetPageText(manager: EntityManager): string {
    const [ids] = this.orderedQuery('', undefined, manager).select('i.id').getQueryAndParameters();
    const columns = manager.createQueryBuilder(Image, 'i').getQuery();
    // The same SELECT, then its ORDER BY.
    const ordered = inGalleryOrder(manager.createQueryBuilder(Image, 'i')).getQuery();
    return (
      `${columns} INNER JOIN (${ids} LIMIT {limit} OFFSET $2) "ids" ON "ids"."i_id" = "i"."id"` +
      ordered.slice(columns.length)
    );
  }

  /** The page query through TypeORM's query builder (what {@link pageSql} is built from). */
  pageQuery(
    productId: string,
    range: GalleryRange,
    manager: EntityManager = this.dataSource.manager,
  ): SelectQueryBuilder<Image> {
    const qb = this.orderedQuery(productId, range.after, manager);
    if (!range.after) qb.offset(range.offset);
    return qb.limit(range.limit);
  }

  /** The gallery in display order, after a position if given: no LIMIT, no OFFSET. */
  private orderedQuery(
    productId: string,
    after: GalleryPosition | undefined,
    manager: EntityManager,
  ): SelectQueryBuilder<Image> {
    const qb = inGalleryOrder(
      manager.createQueryBuilder(Image, 'i').where('i.product_id = :productId', { productId }),
    );
    if (after) {
      const { isPrimary, priority, createdAt, id } = after;
      qb.andWhere(`(${GALLERY_KEY.join(', ')}) < (:isPrimary, :negatedPriority, :createdAt, :id)`, {
        isPrimary,
        negatedPriority: -priority,
        createdAt,
        id,
      });
    }
    return qb;
  }

  /** The image of the organisation on this product, or null. */
  findOnProduct(
    ctx: RequestContext,
    productId: string,
    imageId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Image | null> {
    return manager.findOneBy(Image, ctx.scoped({ id: imageId, productId }));
  }

  /**
   * The organisation's image, locked for an attach; null when there is none, or when it is a
   * stand-alone upload past its expiry (by the database's clock, as for the sweep). Past it at
   * the moment of this check (clock_timestamp(), also when rechecked after waiting for the row),
   * not at the transaction's start (now()): an attach that waited for the product's lock would
   * attach an upload that expired meanwhile, one the sweep already counts as expired.
   */
  lockAttachable(
    manager: EntityManager,
    ctx: RequestContext,
    imageId: string,
  ): Promise<Image | null> {
    return manager
      .createQueryBuilder(Image, 'i')
      .setLock('pessimistic_write')
      .where('i.id = :imageId AND i.organization_id = :organizationId', {
        imageId,
        organizationId: ctx.organizationId,
      })
      .andWhere('(i.expires_at IS NULL OR i.expires_at > clock_timestamp())')
      .getOne();
  }

  /**
   * Locks (FOR KEY SHARE, until the transaction ends) the user who uploaded the organisation's
   * image `imageId`, if any, without locking the image: see GalleryService.attach.
   */
  async lockUploaderOf(
    manager: EntityManager,
    ctx: RequestContext,
    imageId: string,
  ): Promise<void> {
    await manager.query(
      `SELECT u.id FROM users u
        WHERE u.id = (SELECT i.uploaded_by FROM images i WHERE i.id = $1 AND i.organization_id = $2)
          FOR KEY SHARE OF u`,
      [imageId, ctx.organizationId],
    );
  }

  /**
   * Locks (FOR KEY SHARE, until the transaction ends, in the order of their ids) the users who
   * uploaded the product's images, before a change that writes more than one of its image rows:
   * a deletion of an uploader locks the user, then clears uploaded_by on their images one row at
   * a time, in the table's order; a change holding one of those rows and waiting for another
   * the deletion holds would deadlock with it. Now one of the two waits for the other from the
   * start. With `imageId`, only the uploaders of that image and of the primary (all an image's
   * PATCH writes), so that editing one image of a large gallery does not read all of it.
   */
  async lockUploadersOf(
    manager: EntityManager,
    productId: string,
    imageId?: string,
  ): Promise<void> {
    const which = imageId === undefined ? '' : ' AND (i.id = $2 OR i.is_primary)';
    await manager.query(
      `SELECT u.id FROM users u
        WHERE u.id IN (SELECT i.uploaded_by FROM images i WHERE i.product_id = $1${which})
        ORDER BY u.id FOR KEY SHARE OF u`,
      imageId === undefined ? [productId] : [productId, imageId],
    );
  }

  /** The image the Ocha API imported into this gallery, if any. */
  findImported(manager: EntityManager, productId: string): Promise<Image | null> {
    return manager.findOneBy(Image, { productId, source: ImageSource.Import });
  }

  /** How many images the gallery has, and its highest priority (null when empty). */
  async countAndMaxPriority(
    manager: EntityManager,
    productId: string,
  ): Promise<{ count: number; maxPriority: number | null }> {
    const found = await manager
      .createQueryBuilder(Image, 'i')
      .select('count(*)::int', 'count')
      .addSelect('max(i.priority)', 'maxPriority')
      .where('i.product_id = :productId', { productId })
      .getRawOne<{ count: number; maxPriority: number | null }>();
    return found ?? { count: 0, maxPriority: null };
  }

  async idsOf(manager: EntityManager, productId: string): Promise<Set<string>> {
    const rows = await manager.find(Image, { select: { id: true }, where: { productId } });
    return new Set(rows.map((i) => i.id));
  }

  /** Priorities 0..n-1 in the order of `imageIds`; how many images that changed. */
  async setPriorities(
    manager: EntityManager,
    productId: string,
    imageIds: string[],
  ): Promise<number> {
    if (imageIds.length === 0) return 0;
    const [{ changed }] = await manager.query<{ changed: number }[]>(
      `WITH changed AS (
         UPDATE images AS i SET priority = v.priority, updated_at = now()
           FROM unnest($1::uuid[], $2::int[]) AS v(id, priority)
          WHERE i.id = v.id AND i.product_id = $3 AND i.priority IS DISTINCT FROM v.priority
         RETURNING 1)
       SELECT count(*)::int AS changed FROM changed`,
      [imageIds, imageIds.map((_, i) => i), productId],
    );
    return changed;
  }

  async demotePrimary(manager: EntityManager, productId: string): Promise<void> {
    await manager.update(Image, { productId, isPrimary: true }, { isPrimary: false });
  }

  /** Makes the first image in display order the primary (after the primary was deleted). */
  async promoteFirst(manager: EntityManager, productId: string): Promise<void> {
    const next = await inGalleryOrder(
      manager.createQueryBuilder(Image, 'i').where('i.product_id = :productId', { productId }),
    ).getOne();
    if (next) await manager.update(Image, { id: next.id }, { isPrimary: true });
  }

  save(manager: EntityManager, image: Image): Promise<Image> {
    return manager.save(image);
  }

  /**
   * A new image of the gallery. Its uploader must have been found by {@link uploaderStillThere}
   * in this transaction, before any image row was locked (see GalleryService.add). One INSERT,
   * its defaults and generated columns (number, created_at) read back by its RETURNING: save()
   * first looked the new id up (a SELECT round trip and TypeORM's change tracking per upload),
   * to learn what a new id always is.
   */
  async insert(manager: EntityManager, image: Partial<Image>): Promise<Image> {
    const row = manager.create(Image, image);
    await manager.insert(Image, row);
    return row;
  }

  async delete(manager: EntityManager, imageId: string): Promise<void> {
    await manager.delete(Image, { id: imageId });
  }
}
