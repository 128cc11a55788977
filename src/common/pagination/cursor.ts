import { AppError } from '../errors/app.error';

/** A keyset position: the sort timestamp and id of the last item of a page. */
export interface CursorPosition {
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id])).toString(
    'base64url',
  );
}

/** Opaque to clients; anything that is not one of ours is 400 invalid_cursor. */
export function decodeCursor(cursor: string): CursorPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2) {
      const [iso, id] = value as unknown[];
      const createdAt = new Date(typeof iso === 'string' ? iso : NaN);
      if (!Number.isNaN(createdAt.getTime()) && typeof id === 'string' && UUID.test(id)) {
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
