import { AppError } from '../../common/errors/app.error';
import { decodeGalleryCursor, encodeGalleryCursor } from './gallery-cursor';

const IMAGE = '6f1c8a52-3b7e-4d2a-9c41-0e5b7a9d3f10';
const PRODUCT = '2a9e4c71-8d35-4b6f-a0c2-7e1d5f8b9c34';

/** A cursor of the current layout whose created_at is `createdAt`, as a client could forge it. */
function cursorAt(createdAt: unknown): string {
  return Buffer.from(JSON.stringify([2, 0, 3, createdAt, IMAGE, 10, PRODUCT])).toString(
    'base64url',
  );
}

function codeOf(cursor: string): string | undefined {
  try {
    decodeGalleryCursor(cursor);
    return undefined;
  } catch (error) {
    return error instanceof AppError ? error.code : String(error);
  }
}

describe('gallery cursor', () => {
  it('reads back what it wrote', () => {
    const position = {
      isPrimary: false,
      priority: 3,
      createdAt: new Date('2026-02-28T23:59:59.999Z'),
      id: IMAGE,
    };
    const cursor = encodeGalleryCursor({ position, before: 10, productId: PRODUCT });
    expect(decodeGalleryCursor(cursor)).toEqual({ position, before: 10, productId: PRODUCT });
    expect(decodeGalleryCursor(cursorAt('0001-01-01T00:00:00.000Z')).position.createdAt).toEqual(
      new Date('0001-01-01T00:00:00.000Z'),
    );
  });

  it.each([
    // Days and months that do not exist (JavaScript's Date rolls 31 February over to 3 March).
    '2026-02-31T00:00:00.000Z',
    '2026-04-31T12:00:00.000Z',
    '2026-13-01T00:00:00.000Z',
    // Trailing text, and times written otherwise than the API writes them.
    '2026-01-01T00:00:00.000Zjunk',
    '2026-01-01T00:00:00.000Z ',
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.000+00:00',
    '2026-01-01',
    // What the lenient parser of dates makes something of.
    '1',
    'Jan 1 2026',
    'Thu, 01 Jan 2026 00:00:00 GMT',
    // Years outside 1 to 9999.
    '+010000-01-01T00:00:00.000Z',
    '0000-12-31T23:59:59.999Z',
    '-000001-01-01T00:00:00.000Z',
  ])('refuses the created_at %j as invalid_cursor', (createdAt) => {
    expect(codeOf(cursorAt(createdAt))).toBe('invalid_cursor');
  });
});
