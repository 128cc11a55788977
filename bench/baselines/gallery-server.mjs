// A minimal Fastify + pg gallery server: what the service's gallery GET is measured against. It
// runs the service's own gallery query, copied from what TypeORM sends for
// GalleryRepository.readPage (src/images/gallery/gallery.repository.ts: a page in display order,
// `(is_primary, -priority, created_at, id)` descending, from IDX_images_gallery_order; one row more
// than the page, to know whether another follows), and the gallery's total as the service has it:
// the product's kept `image_count` (read here by the product's id alone, where the service reads
// the product's row, which it needs anyway, by organisation and id). It answers the same JSON
// fields with the local storage's URLs. No authentication (the product id is in the URL). When the
// service's query changes, copy the new one here: the baseline is "the same query, nothing around it".
//
// Environment: PORT, PUBLIC_BASE_URL, and DATABASE_URL (a server; pool of DATABASE_POOL_SIZE, 10 as
// the service) or PGLITE_DIR (an embedded database, one session, as the service on PGlite).
import { PGlite } from '@electric-sql/pglite';
import Fastify from 'fastify';
import pg from 'pg';

const env = process.env;
const BASE = `${env.PUBLIC_BASE_URL}/media/`;

const COLUMNS = `"i"."id" AS "i_id", "i"."number" AS "i_number", "i"."organization_id" AS "i_organization_id", "i"."product_id" AS "i_product_id", "i"."purpose" AS "i_purpose", "i"."source" AS "i_source", "i"."title" AS "i_title", "i"."alt_text" AS "i_alt_text", "i"."description" AS "i_description", "i"."is_primary" AS "i_is_primary", "i"."priority" AS "i_priority", "i"."original_filename" AS "i_original_filename", "i"."format" AS "i_format", "i"."mime_type" AS "i_mime_type", "i"."width" AS "i_width", "i"."height" AS "i_height", "i"."size" AS "i_size", "i"."color_mode" AS "i_color_mode", "i"."has_alpha" AS "i_has_alpha", "i"."sha256" AS "i_sha256", "i"."storage_key" AS "i_storage_key", "i"."renditions" AS "i_renditions", "i"."uploaded_by" AS "i_uploaded_by", "i"."expires_at" AS "i_expires_at", "i"."created_at" AS "i_created_at", "i"."updated_at" AS "i_updated_at"`;
// TypeORM writes LIMIT and OFFSET as numbers in the text (integers, validated before), OFFSET only
// when not 0; after a cursor, the keyset position is one row comparison.
const AFTER = ` AND ("i"."is_primary", -i.priority, "i"."created_at", "i"."id") < ($2, $3, $4, $5)`;
const pageSql = (limit, offset, after) =>
  `SELECT ${COLUMNS} FROM "images" "i" WHERE "i"."product_id" = $1${after ? AFTER : ''} ORDER BY "i"."is_primary" DESC, -i.priority DESC, "i"."created_at" DESC, "i"."id" DESC LIMIT ${limit}${offset ? ` OFFSET ${offset}` : ''}`;
/** The service's cursor (src/images/gallery/gallery-cursor.ts): [primary 0/1, priority, created_at, id]. */
const encodeCursor = (row) =>
  Buffer.from(
    JSON.stringify([
      row.i_is_primary ? 1 : 0,
      row.i_priority,
      new Date(row.i_created_at).toISOString(),
      row.i_id,
    ]),
  ).toString('base64url');
const decodeCursor = (cursor) => {
  const [primary, priority, iso, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  return [primary === 1, -priority, new Date(iso), id];
};
const TOTAL_SQL = `SELECT "image_count" FROM "products" WHERE "id" = $1`;

async function openDatabase() {
  if (env.PGLITE_DIR) {
    const db = await PGlite.create({ dataDir: env.PGLITE_DIR });
    // One session, as the service's PGlite driver: one query at a time.
    let tail = Promise.resolve();
    const query = (sql, params) => {
      const run = tail.then(() => db.query(sql, params));
      tail = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    };
    return { query, close: () => db.close() };
  }
  const pool = new pg.Pool({
    connectionString: env.DATABASE_URL,
    max: Number(env.DATABASE_POOL_SIZE ?? 10),
  });
  return { query: (sql, params) => pool.query(sql, params), close: () => pool.end() };
}

function present(row) {
  const renditions = {};
  for (const [name, r] of Object.entries(row.i_renditions)) {
    renditions[name] = {
      url: BASE + r.key,
      width: r.width,
      height: r.height,
      format: r.format,
      size: r.size,
    };
  }
  return {
    id: row.i_id,
    product_id: row.i_product_id,
    purpose: row.i_purpose,
    title: row.i_title,
    alt_text: row.i_alt_text,
    description: row.i_description,
    is_primary: row.i_is_primary,
    priority: row.i_priority,
    original_filename: row.i_original_filename,
    format: row.i_format,
    mime_type: row.i_mime_type,
    width: row.i_width,
    height: row.i_height,
    size: row.i_size,
    color_mode: row.i_color_mode,
    has_alpha: row.i_has_alpha,
    sha256: row.i_sha256,
    url: BASE + row.i_storage_key,
    renditions,
    created_at: row.i_created_at,
    updated_at: row.i_updated_at,
  };
}

const db = await openDatabase();
const app = Fastify({ logger: false });

app.get('/products/:id/images', async (request) => {
  const page = Number(request.query.page ?? 1);
  const perPage = Number(request.query.per_page ?? 100);
  const { id } = request.params;
  const after = request.query.cursor ? decodeCursor(request.query.cursor) : undefined;
  const offset = after ? 0 : (page - 1) * perPage;
  const rows = await db.query(pageSql(perPage + 1, offset, after), [id, ...(after ?? [])]);
  const total = await db.query(TOTAL_SQL, [id]);
  const items = rows.rows.slice(0, perPage);
  return {
    items: items.map(present),
    page: after ? 1 : page,
    per_page: perPage,
    total: Number(total.rows[0]?.image_count ?? 0),
    next_cursor: rows.rows.length > perPage ? encodeCursor(items.at(-1)) : null,
  };
});
app.get('/ready', async () => ({ ok: true }));
app.addHook('onClose', () => db.close());

process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
await app.listen({ port: Number(env.PORT), host: '127.0.0.1' });
