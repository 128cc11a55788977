// The bench's databases: on a PostgreSQL server, its own database, created for the run and dropped
// at the end; on PGlite, the service's embedded database, opened here only while the service is
// stopped (it holds one session). Rows are inserted in bulk with SQL (generate_series), not through
// the API: a gallery read needs rows, and only the presenter's fields of them.
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/** Creates a database named bench_<random> on the server of `adminUrl`; returns its URL. */
export async function createDatabase(adminUrl) {
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export async function dropDatabase(adminUrl, name) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** A `query(sql, params)` on a server URL or an embedded data directory. */
export async function openSql({ url, pgliteDir }) {
  if (pgliteDir) {
    const db = await PGlite.create({ dataDir: pgliteDir });
    return { query: (sql, params) => db.query(sql, params), close: () => db.close() };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return { query: (sql, params) => client.query(sql, params), close: () => client.end() };
}

/**
 * Whether the service keeps each product's image count (`products.image_count`, added to in the
 * gallery's transaction): rows inserted here must add to it, or totals and product lists are wrong.
 * A service built from an older commit (--service-dir) has no such column.
 */
async function keepsImageCount(sql) {
  const { rows } = await sql.query(
    `SELECT 1 FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'products' AND column_name = 'image_count'`,
  );
  return rows.length > 0;
}

const IMAGE_COLUMNS = `organization_id, purpose, source, title, alt_text, description, original_filename,
  format, mime_type, width, height, size, color_mode, has_alpha, sha256, storage_key, renditions, uploaded_by`;

/**
 * `count` copies of the uploaded image `sourceId` in the gallery of `productId` (files shared: a
 * gallery read does not open them), each appended as an upload would be (priority after the last,
 * a second older each); the first is the primary when `primary` is true. The product's kept image
 * count grows by `count`, as the gallery's transaction would have made it.
 */
export async function fillGallery(sql, { sourceId, productId, count, primary }) {
  await sql.query(
    `INSERT INTO images (id, product_id, is_primary, priority, created_at, updated_at, ${IMAGE_COLUMNS})
     SELECT gen_random_uuid(), $2::uuid, $4::boolean AND g = 1, g, s.created_at - g * interval '1 second',
            s.created_at - g * interval '1 second', ${IMAGE_COLUMNS.replace(/(\w+)/g, 's.$1')}
       FROM images s, generate_series(1, $3::int) AS g
      WHERE s.id = $1::uuid`,
    [sourceId, productId, count, primary],
  );
  if (await keepsImageCount(sql)) {
    await sql.query(`UPDATE products SET image_count = image_count + $2::int WHERE id = $1::uuid`, [
      productId,
      count,
    ]);
  }
}

/**
 * `count` products in the organisation `orgSlug`, older than any made through the API, each with
 * `imagesEach` copies of the image `sourceId` (the first the primary).
 */
export async function fillCatalogue(sql, { orgSlug, count, sourceId, imagesEach }) {
  const { rows } = await sql.query(`SELECT id FROM organizations WHERE slug = $1`, [orgSlug]);
  const orgId = rows[0].id;
  // Each product's kept image count is written with it (no UPDATE of 100,000 rows after).
  const kept = await keepsImageCount(sql);
  await sql.query(
    `INSERT INTO products (organization_id, name, slug, ${kept ? 'image_count, ' : ''}created_at, updated_at)
     SELECT $1::uuid, 'Product ' || g, 'product-' || g, ${kept ? '$3::int, ' : ''}
            now() - interval '1 day' - g * interval '1 second', now() - interval '1 day' - g * interval '1 second'
       FROM generate_series(1, $2::int) AS g`,
    kept ? [orgId, count, imagesEach] : [orgId, count],
  );
  await sql.query(
    `INSERT INTO images (id, product_id, is_primary, priority, created_at, updated_at, ${IMAGE_COLUMNS})
     SELECT gen_random_uuid(), p.id, g = 1, g, p.created_at, p.created_at,
            $2::uuid, ${IMAGE_COLUMNS.replace(/(\w+)/g, 's.$1').replace('s.organization_id, ', '')}
       FROM products p, images s, generate_series(1, $3::int) AS g
      WHERE p.organization_id = $2::uuid AND s.id = $1::uuid`,
    [sourceId, orgId, imagesEach],
  );
}

/**
 * Fresh planner statistics and visibility map after the bulk inserts, as autovacuum would have
 * soon (its insert threshold, PostgreSQL 13 on): a deep gallery page by number reads ids from the
 * index alone only where the table's pages are marked all-visible (GalleryRepository.pageSql).
 * Said here because a server may run with autovacuum off (this machine's does).
 */
export async function analyze(sql) {
  await sql.query('VACUUM ANALYZE');
}
