import { AppError } from '../errors/app.error';
import { cursorJson, decodeCursor, encodeCursor } from './cursor';

const ID = '6f1c8a52-3b7e-4d2a-9c41-0e5b7a9d3f10';

/** A products cursor whose created_at is `createdAt`, as a client could forge it. */
function cursorAt(createdAt: unknown): string {
  return Buffer.from(JSON.stringify([createdAt, ID, 'products'])).toString('base64url');
}

function codeOf(cursor: string): string | undefined {
  try {
    decodeCursor(cursor, 'products');
    return undefined;
  } catch (error) {
    return error instanceof AppError ? error.code : String(error);
  }
}

describe(decodeCursor.name, () => {
  it('reads back what encodeCursor wrote, for its own list only', () => {
    const position = { createdAt: new Date('2026-02-28T23:59:59.999Z'), id: ID };
    expect(decodeCursor(encodeCursor(position, 'products'), 'products')).toEqual(position);
    expect(decodeCursor(cursorAt('0001-01-01T00:00:00.000Z'), 'products').createdAt).toEqual(
      new Date('0001-01-01T00:00:00.000Z'),
    );
    expect(codeOf(encodeCursor(position, 'imports'))).toBe('invalid_cursor');
  });

  it.each([
    // Days and months that do not exist (JavaScript's Date rolls 31 February over to 3 March).
    '2026-02-31T00:00:00.000Z',
    '2026-04-31T12:00:00.000Z',
    '2026-13-01T00:00:00.000Z',
    // Trailing text, and times written otherwise than the API writes them.
    '2026-01-01T00:00:00.000Zjunk',
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.000+00:00',
    '2026-01-01',
    // What the lenient parser of dates makes something of.
    '1',
    'Jan 1 2026',
    'Thu, 01 Jan 2026 00:00:00 GMT',
    // Years outside 1 to 9999, and not a string.
    '+010000-01-01T00:00:00.000Z',
    '0000-12-31T23:59:59.999Z',
    1767225600000,
  ])('refuses the created_at %j as invalid_cursor', (createdAt) => {
    expect(codeOf(cursorAt(createdAt))).toBe('invalid_cursor');
  });
});

describe(cursorJson.name, () => {
  const written = Buffer.from(JSON.stringify(['a', 1])).toString('base64url');

  it('reads the one spelling the API writes', () => {
    expect(cursorJson(written)).toEqual(['a', 1]);
  });

  it.each([
    ['a character appended', `${written}Q`],
    ['padding', `${written}==`],
    ['a character outside the alphabet', `${written.slice(0, 4)}!${written.slice(4)}`],
    ['a space', `${written.slice(0, 4)} ${written.slice(4)}`],
    ['base64 for base64url', Buffer.from('[">?"]').toString('base64')],
  ])('refuses %s, which decodes to the same bytes', (_, cursor) => {
    expect(() => cursorJson(cursor)).toThrow(SyntaxError);
  });
});
