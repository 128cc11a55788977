// A minimal Fastify + pg gallery server: what the service's gallery GET is measured against. It
// runs the service's own gallery queries, copied from what TypeORM sends for
// GalleryService.readPage (src/images/gallery/gallery.service.ts: findAndCount in GALLERY_ORDER,
// a page and a count), and answers the same JSON fields with the local storage's URLs. No authentication and
// no product lookup (the product id is in the URL). When the service's queries change (issue 17,
// section 3), copy the new ones here: the baseline is "the same query, nothing around it".
//
// Environment: PORT, PUBLIC_BASE_URL, and DATABASE_URL (a server; pool of DATABASE_POOL_SIZE, 10 as
// the service) or PGLITE_DIR (an embedded database, one session, as the service on PGlite).
import { PGlite } from '@electric-sql/pglite';
import Fastify from 'fastify';
import pg from 'pg';

const env = process.env;
const BASE = `${env.PUBLIC_BASE_URL}/media/`;

const PAGE_SQL = `SELECT "Image"."id" AS "Image_id", "Image"."number" AS "Image_number", "Image"."organization_id" AS "Image_organization_id", "Image"."product_id" AS "Image_product_id", "Image"."purpose" AS "Image_purpose", "Image"."source" AS "Image_source", "Image"."title" AS "Image_title", "Image"."alt_text" AS "Image_alt_text", "Image"."description" AS "Image_description", "Image"."is_primary" AS "Image_is_primary", "Image"."priority" AS "Image_priority", "Image"."original_filename" AS "Image_original_filename", "Image"."format" AS "Image_format", "Image"."mime_type" AS "Image_mime_type", "Image"."width" AS "Image_width", "Image"."height" AS "Image_height", "Image"."size" AS "Image_size", "Image"."color_mode" AS "Image_color_mode", "Image"."has_alpha" AS "Image_has_alpha", "Image"."sha256" AS "Image_sha256", "Image"."storage_key" AS "Image_storage_key", "Image"."renditions" AS "Image_renditions", "Image"."uploaded_by" AS "Image_uploaded_by", "Image"."expires_at" AS "Image_expires_at", "Image"."created_at" AS "Image_created_at", "Image"."updated_at" AS "Image_updated_at" FROM "images" "Image" WHERE (("Image"."product_id" = $1)) ORDER BY "Image"."is_primary" DESC, "Image"."priority" ASC, "Image"."created_at" DESC, "Image"."id" DESC LIMIT $2 OFFSET $3`;
const COUNT_SQL = `SELECT COUNT(DISTINCT("Image"."id")) AS "cnt" FROM "images" "Image" WHERE (("Image"."product_id" = $1))`;

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
  for (const [name, r] of Object.entries(row.Image_renditions)) {
    renditions[name] = {
      url: BASE + r.key,
      width: r.width,
      height: r.height,
      format: r.format,
      size: r.size,
    };
  }
  return {
    id: row.Image_id,
    product_id: row.Image_product_id,
    purpose: row.Image_purpose,
    title: row.Image_title,
    alt_text: row.Image_alt_text,
    description: row.Image_description,
    is_primary: row.Image_is_primary,
    priority: row.Image_priority,
    original_filename: row.Image_original_filename,
    format: row.Image_format,
    mime_type: row.Image_mime_type,
    width: row.Image_width,
    height: row.Image_height,
    size: row.Image_size,
    color_mode: row.Image_color_mode,
    has_alpha: row.Image_has_alpha,
    sha256: row.Image_sha256,
    url: BASE + row.Image_storage_key,
    renditions,
    created_at: row.Image_created_at,
    updated_at: row.Image_updated_at,
  };
}

const db = await openDatabase();
const app = Fastify({ logger: false });

app.get('/products/:id/images', async (request) => {
  const page = Number(request.query.page ?? 1);
  const perPage = Number(request.query.per_page ?? 100);
  const { id } = request.params;
  const rows = await db.query(PAGE_SQL, [id, perPage, (page - 1) * perPage]);
  const count = await db.query(COUNT_SQL, [id]);
  return {
    items: rows.rows.map(present),
    page,
    per_page: perPage,
    total: Number(count.rows[0].cnt),
  };
});
app.get('/ready', async () => ({ ok: true }));
app.addHook('onClose', () => db.close());

process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
await app.listen({ port: Number(env.PORT), host: '127.0.0.1' });
