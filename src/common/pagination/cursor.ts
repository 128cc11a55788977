import { AppError } from '../errors/app.error';

/** A keyset position: the sort timestamp and id of the last item of a page. */
export interface CursorPosition {
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/**
 * Years 1 to 9999: a JavaScript date reaches 271821 BC, beyond PostgreSQL's timestamps (4713 BC),
 * so a forged cursor's date is bounded before it reaches a query.
 */
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

function inRange(date: Date): boolean {
  const time = date.getTime();
  return time >= EARLIEST && time <= LATEST;
}

/**
 * The list a cursor belongs to. The lists share one shape of position: a cursor carries its list,
 * so that one handed to another list (a client's mix-up) is refused rather than starting that
 * list at some position and silently skipping what comes before it.
 */
export type CursorList = 'products' | 'images' | 'imports';

export function encodeCursor(position: CursorPosition, list: CursorList): string {
  return Buffer.from(
    JSON.stringify([position.createdAt.toISOString(), position.id, list]),
  ).toString('base64url');
}

/**
 * The JSON a cursor spells, read only from the one spelling the API writes: Node's base64url
 * decoder skips characters outside its alphabet (`!`, `.`, spaces, `=`) and drops a trailing
 * partial character, so without the round trip a cursor with anything added decoded to the very
 * cursor and was taken for it. Throws (a SyntaxError) on any other text: the callers refuse it
 * as `400 invalid_cursor`.
 */
export function cursorJson(cursor: string): unknown {
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.toString('base64url') !== cursor) throw new SyntaxError('Not a cursor this API wrote');
  return JSON.parse(bytes.toString('utf8'));
}

/** Opaque to clients; anything that is not one of ours for `list` is 400 invalid_cursor. */
export function decodeCursor(cursor: string, list: CursorList): CursorPosition {
  try {
    const value = cursorJson(cursor);
    if (Array.isArray(value) && value.length === 3 && value[2] === list) {
      const [iso, id] = value as unknown[];
      const createdAt = new Date(typeof iso === 'string' ? iso : NaN);
      // Exactly as encodeCursor writes it: Date also reads other formats ("1" is 2001), and rolls
      // a day that does not exist (31 February) over into the next month.
      const asWritten = inRange(createdAt) && createdAt.toISOString() === iso;
      if (asWritten && typeof id === 'string' && UUID.test(id)) {
        return { createdAt, id };
      }
    }
  } catch {
    // Fall through.
  }
  throw new AppError('invalid_cursor', 'The cursor is not one this API returned.', [
    { field: 'cursor', message: 'is not a valid cursor' },
  ]);
}
