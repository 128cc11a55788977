import { randomUUID } from 'node:crypto';
import { decodeId, encodeShortId, SHORT_ID_ALPHABET } from './short-id';

describe(encodeShortId.name, () => {
  it('matches Python shortuuid for known values', () => {
    // shortuuid.encode(uuid.UUID(...)) with the default alphabet.
    expect(encodeShortId('00000000-0000-0000-0000-000000000000')).toBe('2'.repeat(22));
    expect(encodeShortId('00000000-0000-0000-0000-000000000001')).toBe('2'.repeat(21) + '3');
    expect(encodeShortId('00000000-0000-0000-0000-000000000039')).toBe('2'.repeat(20) + '32');
  });

  it('always yields 22 characters of the alphabet', () => {
    for (let i = 0; i < 500; i++) {
      const id = encodeShortId(randomUUID());
      expect(id).toHaveLength(22);
      for (const ch of id) expect(SHORT_ID_ALPHABET).toContain(ch);
    }
    expect(encodeShortId('ffffffff-ffff-ffff-ffff-ffffffffffff')).toHaveLength(22);
  });
});

describe(decodeId.name, () => {
  it('round-trips random UUIDs through the short form', () => {
    for (let i = 0; i < 500; i++) {
      const uuid = randomUUID();
      expect(decodeId(encodeShortId(uuid))).toBe(uuid);
    }
  });

  it('accepts a canonical UUID in any case', () => {
    const uuid = randomUUID();
    expect(decodeId(uuid.toUpperCase())).toBe(uuid);
  });

  it.each([
    '',
    '123',
    'not-an-id',
    '2222222222222222222221', // '1' is not in the alphabet
    '22222222222222222222222', // 23 characters
    'zzzzzzzzzzzzzzzzzzzzzz', // larger than 2^128 - 1
    '00000000-0000-0000-0000-00000000000g',
    "'; drop table users; --",
  ])('rejects %j', (id) => {
    expect(decodeId(id)).toBeUndefined();
  });
});
