import { randomUUID } from 'node:crypto';
import { AppError } from '../../common/errors/app.error';
import { encodeShortId } from '../../common/ids/short-id';
import type { ImageDto } from '../../images/dto/image.dto';
import { ImagePurpose } from '../../images/entities/image.entity';
import { assertOwnOrganization, closientGtin, toClosientImage } from './closient-mapping';

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
  return undefined;
}

describe(closientGtin.name, () => {
  it('zero-pads 8 to 14 digits to GTIN-14', () => {
    expect(closientGtin('96385074')).toBe('00000096385074');
    expect(closientGtin('36000291452')).toBe('00036000291452');
    expect(closientGtin('036000291452')).toBe('00036000291452');
    expect(closientGtin('4006381333931')).toBe('04006381333931');
    expect(closientGtin('10012345678902')).toBe('10012345678902');
  });

  it.each(['1234567', '123456789012345', 'abcdefgh', ' 96385074', '9638507４', ''])(
    'refuses %j with 400 invalid_gtin',
    (value) => {
      expect(codeOf(() => closientGtin(value))).toBe('invalid_gtin');
    },
  );
});

describe(assertOwnOrganization.name, () => {
  const own = randomUUID();

  it("accepts the caller's organisation as a shortuuid or a UUID in any case", () => {
    expect(codeOf(() => assertOwnOrganization(encodeShortId(own), own))).toBeUndefined();
    expect(codeOf(() => assertOwnOrganization(own.toUpperCase(), own))).toBeUndefined();
  });

  it("answers another organisation's id as a product not found (404), a malformed one 400", () => {
    expect(codeOf(() => assertOwnOrganization(encodeShortId(randomUUID()), own))).toBe(
      'product_not_found',
    );
    for (const bad of ['', 'abc', '1'.repeat(22), `${encodeShortId(own)}x`]) {
      expect(codeOf(() => assertOwnOrganization(bad, own))).toBe('invalid_id');
    }
  });
});

describe(toClosientImage.name, () => {
  it("gives exactly Closient's fields", () => {
    const created = new Date('2023-11-07T05:31:56.000Z');
    const image = {
      id: '9bYsGJZVNPTSbQeJxuSeuy',
      purpose: ImagePurpose.Product,
      title: 'Front of package',
      is_primary: true,
      priority: 3,
      url: 'http://media.test/media/products/p/i/original.jpg',
      created_at: created,
      updated_at: new Date(),
    } as ImageDto;
    expect(toClosientImage(image)).toEqual({
      id: '9bYsGJZVNPTSbQeJxuSeuy',
      title: 'Front of package',
      is_primary: true,
      priority: 3,
      created,
      image_url: 'http://media.test/media/products/p/i/original.jpg',
    });
  });
});
