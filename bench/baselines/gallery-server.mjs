// A minimal Fastify + pg gallery server: what the service's gallery GET is measured against. It
// runs the service's own gallery query, copied from what TypeORM sends for
// GalleryRepository.readPage (src/images/gallery/gallery.repository.ts: a page in display order,
// `(is_primary, -priority, created_at, id)` descending, from IDX_images_gallery_order; one row more
// than the page, to know whether another follows; a page by number past the first as a deferred
// join), and the gallery's total as the service has it:
// the product's kept `image_count` (read here by the product's id alone, where the service reads
// the product's row, which it needs anyway, by organisation and id). It answers the same JSON
// fields with the local storage's URLs, `responsive` included: per rendition preset, srcsets of
// transform URLs in AVIF, WebP and the fallback format at 1×, 1.5× and 2× on the width ladder
// (never beyond the original), each signed as the service signs them (HMAC-SHA256 of
// `<options>/<id>`, 16 bytes in base64url), computed as src/images/delivery/responsive-images.ts
// and transform-plan.ts do and kept per image as the service keeps them. No authentication (the
// product id is in the URL). When the service's query or its srcsets change, copy the new ones
// here: the baseline is "the same query and the same answer, nothing around them".
//
// Environment: PORT, PUBLIC_BASE_URL, and DATABASE_URL (a server; pool of DATABASE_POOL_SIZE, 10 as
// the service) or PGLITE_DIR (an embedded database, one session, as the service on PGlite);
// IMAGE_RENDITIONS, DELIVERY_WIDTHS, DELIVERY_SIGNING_KEYS (the service's, with its defaults).
import { createHmac } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import Fastify from 'fastify';
import pg from 'pg';

const env = process.env;
const BASE = `${env.PUBLIC_BASE_URL}/media/`;

const COLUMNS = `"i"."id" AS "i_id", "i"."number" AS "i_number", "i"."organization_id" AS "i_organization_id", "i"."product_id" AS "i_product_id", "i"."purpose" AS "i_purpose", "i"."source" AS "i_source", "i"."title" AS "i_title", "i"."alt_text" AS "i_alt_text", "i"."description" AS "i_description", "i"."is_primary" AS "i_is_primary", "i"."priority" AS "i_priority", "i"."original_filename" AS "i_original_filename", "i"."format" AS "i_format", "i"."mime_type" AS "i_mime_type", "i"."width" AS "i_width", "i"."height" AS "i_height", "i"."size" AS "i_size", "i"."color_mode" AS "i_color_mode", "i"."has_alpha" AS "i_has_alpha", "i"."sha256" AS "i_sha256", "i"."storage_key" AS "i_storage_key", "i"."storage_version" AS "i_storage_version", "i"."renditions" AS "i_renditions", "i"."rendition_set" AS "i_rendition_set", "i"."uploaded_by" AS "i_uploaded_by", "i"."expires_at" AS "i_expires_at", "i"."created_at" AS "i_created_at", "i"."updated_at" AS "i_updated_at"`;
// The LIMIT is a number in the text (an integer, validated before), as TypeORM writes it; after a
// cursor, the keyset position is one row comparison. A page from an OFFSET (by number, past the
// first) is a deferred join: the OFFSET, a parameter, steps over ids read from the index alone,
// and only the page's rows are read from the table.
const ORDER = `ORDER BY "i"."is_primary" DESC, -i.priority DESC, "i"."created_at" DESC, "i"."id" DESC`;
const AFTER = ` AND ("i"."is_primary", -i.priority, "i"."created_at", "i"."id") < ($2, $3, $4, $5)`;
const IDS = `SELECT "i"."id" AS "i_id" FROM "images" "i" WHERE "i"."product_id" = $1 ${ORDER}`;
const pageSql = (limit, offset, after) =>
  !after && offset
    ? `SELECT ${COLUMNS} FROM "images" "i" INNER JOIN (${IDS} LIMIT ${limit} OFFSET $2) "ids" ON "ids"."i_id" = "i"."id" ${ORDER}`
    : `SELECT ${COLUMNS} FROM "images" "i" WHERE "i"."product_id" = $1${after ? AFTER : ''} ${ORDER} LIMIT ${limit}`;
/**
 * The service's cursor (src/images/gallery/gallery-cursor.ts): [its layout, 2; primary 0/1,
 * priority, created_at, id, how many images come before the page it leads to, the product's id].
 */
const encodeCursor = (row, before, productId) =>
  Buffer.from(
    JSON.stringify([
      2,
      row.i_is_primary ? 1 : 0,
      row.i_priority,
      new Date(row.i_created_at).toISOString(),
      row.i_id,
      before,
      productId,
    ]),
  ).toString('base64url');
const decodeCursor = (cursor) => {
  const [, primary, priority, iso, id, before] = JSON.parse(
    Buffer.from(cursor, 'base64url').toString(),
  );
  return { after: [primary === 1, -priority, new Date(iso), id], before };
};
const TOTAL_SQL = `SELECT "image_count" FROM "products" WHERE "id" = $1`;

// Transform URLs, as the service builds them for `responsive` (its defaults where unset).
const TRANSFORM_BASE = `${env.PUBLIC_BASE_URL}/transform/`;
const SIGNING_KEY = Buffer.from((env.DELIVERY_SIGNING_KEYS ?? 'bench').split(',')[0].trim());
const LADDER = (
  env.DELIVERY_WIDTHS ??
  '64,80,96,128,160,200,256,320,400,512,640,800,1024,1280,1600,2048,2560,3200,3840'
)
  .split(',')
  .map(Number);
const PRESETS = (
  env.IMAGE_RENDITIONS ?? 'thumb:150x150:cover,card:500x500:attention,large:1200x1200:inside'
)
  .split(',')
  .map((entry) => {
    const [name, size, fit] = entry.trim().split(':');
    const [width, height] = size.split('x').map(Number);
    return { name, width, height, fit };
  });
const DENSITIES = [1, 1.5, 2];
const MIME = {
  avif: 'image/avif',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
};
const KEPT_MAX = 5_000;
const kept = new Map();

/** url-signer.ts: the first 16 bytes of the HMAC-SHA256 of `<options>/<id>`, in base64url. */
function signed(options, id) {
  const signature = createHmac('sha256', SIGNING_KEY)
    .update(`${options}/${id}`)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
  return `${TRANSFORM_BASE}${signature}/${options}/${id}`;
}

/** transform-plan.ts for a box given whole: snapped to the ladder, capped to the original. */
function planned(box, fit, original) {
  const step = LADDER.find((w) => w >= box.width) ?? LADDER.at(-1);
  const snapped = { width: step, height: Math.max(1, Math.round((box.height * step) / box.width)) };
  const scale = Math.min(1, original.width / snapped.width, original.height / snapped.height);
  const capped = {
    width: Math.max(1, Math.round(snapped.width * scale)),
    height: Math.max(1, Math.round(snapped.height * scale)),
  };
  if (fit !== 'inside') return capped;
  const inside = Math.min(capped.width / original.width, capped.height / original.height);
  return {
    width: Math.max(1, Math.round(original.width * inside)),
    height: Math.max(1, Math.round(original.height * inside)),
  };
}

/** responsive-images.ts: per preset, a srcset per format and the fallback at 1×. */
function responsive(row) {
  const known = kept.get(row.i_id);
  if (known) return known;
  // The service's ids are 22-character short ids; the UUID's 16 bytes in base64url are as long.
  const id = Buffer.from(row.i_id.replaceAll('-', ''), 'hex').toString('base64url');
  const original = { width: row.i_width, height: row.i_height };
  const fallback = ['jpeg', 'png', 'gif'].includes(row.i_format)
    ? row.i_format
    : row.i_has_alpha
      ? 'png'
      : 'jpeg';
  const out = {};
  for (const preset of PRESETS) {
    const boxes = DENSITIES.map((density) => {
      const wanted = preset.width * density;
      const width = LADDER.find((w) => w >= wanted) ?? Math.round(wanted);
      return { width, height: Math.round((width * preset.height) / preset.width) };
    });
    const srcset = (format) => {
      const seen = new Set();
      const candidates = [];
      for (const box of boxes) {
        const plan = planned(box, preset.fit, original);
        if (seen.has(plan.width)) continue;
        seen.add(plan.width);
        const options = `w_${box.width},h_${box.height},c_${preset.fit},f_${format}`;
        candidates.push({ url: signed(options, id), ...plan });
      }
      return {
        first: candidates[0],
        srcset: candidates.map((c) => `${c.url} ${c.width}w`).join(', '),
      };
    };
    const last = srcset(fallback);
    out[preset.name] = {
      width: last.first.width,
      height: last.first.height,
      src: last.first.url,
      type: MIME[fallback],
      srcset: { avif: srcset('avif').srcset, webp: srcset('webp').srcset, fallback: last.srcset },
    };
  }
  if (kept.size >= KEPT_MAX) kept.clear();
  kept.set(row.i_id, out);
  return out;
}

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
    responsive: responsive(row),
    created_at: row.i_created_at,
    updated_at: row.i_updated_at,
  };
}

const db = await openDatabase();
const app = Fastify({ logger: false });

app.get('/products/:id/images', async (request) => {
  const perPage = Number(request.query.per_page ?? 100);
  const { id } = request.params;
  const walk = request.query.cursor ? decodeCursor(request.query.cursor) : undefined;
  const after = walk?.after;
  const before = walk ? walk.before : (Number(request.query.page ?? 1) - 1) * perPage;
  const page = Math.floor(before / perPage) + 1;
  const offset = after ? 0 : before;
  const parameters = after ? [id, ...after] : offset ? [id, offset] : [id];
  const rows = await db.query(pageSql(perPage + 1, offset, after), parameters);
  const total = await db.query(TOTAL_SQL, [id]);
  const items = rows.rows.slice(0, perPage);
  return {
    items: items.map(present),
    page,
    per_page: perPage,
    total: Number(total.rows[0]?.image_count ?? 0),
    next_cursor:
      rows.rows.length > perPage ? encodeCursor(items.at(-1), before + items.length, id) : null,
  };
});
app.get('/ready', async () => ({ ok: true }));
app.addHook('onClose', () => db.close());

process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
await app.listen({ port: Number(env.PORT), host: '127.0.0.1' });
