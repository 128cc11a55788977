import { AppError } from '../../common/errors/app.error';
import { cursorJson } from '../../common/pagination/cursor';

/** A keyset position in the gallery's display order: the last image of a page. */
export interface GalleryPosition {
  isPrimary: boolean;
  priority: number;
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** PostgreSQL's integer; a priority is never negative (CHK_images_priority). */
const MAX_PRIORITY = 2_147_483_647;
/** Years 1 to 9999, as the products' cursors (src/common/pagination/cursor.ts). */
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Where a walk through a gallery's pages stands: after `position`, with `before` images before
 * the page it leads to (so that the page answers its number at whatever `per_page` it is read
 * with), of the product `productId` (another product's gallery refuses it).
 */
export interface GalleryCursor {
  position: GalleryPosition;
  before: number;
  productId: string;
}

/**
 * The layout's number, first: a cursor of an earlier layout (one that held the next page's
 * number, wrong once `per_page` changed) is refused as any foreign cursor.
 */
const LAYOUT = 2;

/** Base64url JSON, as the products' and stand-alone images' cursors: opaque to clients. */
export function encodeGalleryCursor({ position, before, productId }: GalleryCursor): string {
  const { isPrimary, priority, createdAt, id } = position;
  return Buffer.from(
    JSON.stringify([
      LAYOUT,
      isPrimary ? 1 : 0,
      priority,
      createdAt.toISOString(),
      id,
      before,
      productId,
    ]),
  ).toString('base64url');
}

/** Anything that is not one of ours is 400 invalid_cursor (bounded before it reaches a query). */
export function decodeGalleryCursor(cursor: string): GalleryCursor {
  try {
    const value = cursorJson(cursor);
    const walk =
      Array.isArray(value) && value.length === 7 && value[0] === LAYOUT
        ? walkOf(value.slice(1))
        : undefined;
    if (walk) return walk;
  } catch {
    // Fall through.
  }
  throw invalidGalleryCursor();
}

export function invalidGalleryCursor(): AppError {
  return new AppError('invalid_cursor', 'The cursor is not one this API returned.', [
    { field: 'cursor', message: 'is not a valid cursor' },
  ]);
}

function walkOf(value: unknown[]): GalleryCursor | undefined {
  const [before, productId] = value.slice(4);
  const position = positionOf(value.slice(0, 4));
  const valid =
    position !== undefined &&
    Number.isInteger(before) &&
    (before as number) >= 1 &&
    (before as number) <= MAX_PRIORITY &&
    typeof productId === 'string' &&
    UUID.test(productId);
  return valid ? { position, before: before as number, productId: productId } : undefined;
}

function positionOf(value: unknown[]): GalleryPosition | undefined {
  const [primary, priority, iso, id] = value;
  const createdAt = new Date(typeof iso === 'string' ? iso : NaN);
  const time = createdAt.getTime();
  const valid =
    (primary === 0 || primary === 1) &&
    Number.isInteger(priority) &&
    (priority as number) >= 0 &&
    (priority as number) <= MAX_PRIORITY &&
    time >= EARLIEST &&
    time <= LATEST &&
    // Exactly as encodeGalleryCursor writes it: Date also reads other formats, and rolls a day
    // that does not exist (31 February) over into the next month.
    createdAt.toISOString() === iso &&
    typeof id === 'string' &&
    UUID.test(id);
  return valid
    ? { isPrimary: primary === 1, priority: priority as number, createdAt, id }
    : undefined;
}
