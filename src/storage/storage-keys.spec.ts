import { join } from 'node:path';
import { cloudinaryAsset, imageObjectKey, isValidKey, resolveKeyPath } from './storage-keys';

const P = '0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const I = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

describe(imageObjectKey.name, () => {
  it('builds product and stand-alone keys', () => {
    expect(imageObjectKey({ productId: P }, I, 'original', 'jpg')).toBe(
      `products/${P}/${I}/original.jpg`,
    );
    expect(imageObjectKey({ productId: null }, I, 'thumb', 'webp')).toBe(`uploads/${I}/thumb.webp`);
  });

  it('refuses anything but UUIDs and plain variant names', () => {
    expect(() => imageObjectKey({ productId: '../x' }, I, 'a', 'jpg')).toThrow();
    expect(() => imageObjectKey({ productId: P }, I, '../../etc/passwd', 'jpg')).toThrow();
    expect(() => imageObjectKey({ productId: P }, I, 'a', 'j/pg')).toThrow();
  });
});

describe(resolveKeyPath.name, () => {
  const root = '/srv/media';

  it('maps a valid key below the root', () => {
    expect(resolveKeyPath(root, `products/${P}/${I}/card.webp`)).toBe(
      join(root, 'products', P, I, 'card.webp'),
    );
  });

  it.each([
    '../etc/passwd',
    'products/../../etc/passwd',
    '/etc/passwd',
    'products//x.jpg',
    'products/./x.jpg',
    'products/..',
    '..',
    '',
    'products/%2e%2e/x',
    'products\\..\\x',
    'Products/X.JPG',
    'products/x.jpg\u0000.png',
    '.hidden/x',
    'a/' + 'b'.repeat(600),
  ])('refuses %j', (key) => {
    expect(isValidKey(key)).toBe(false);
    expect(resolveKeyPath(root, key)).toBeUndefined();
  });
});

describe(cloudinaryAsset.name, () => {
  it('puts product keys directly in the folder, without extension', () => {
    expect(cloudinaryAsset(`products/${P}/${I}/original.jpg`, 'products/')).toEqual({
      folder: 'products/',
      publicId: `${P}/${I}/original`,
      fullId: `products/${P}/${I}/original`,
      extension: 'jpg',
    });
  });

  it("keeps other keys' paths below the folder, and honours an empty folder", () => {
    expect(cloudinaryAsset(`uploads/${I}/original.png`, 'shop/')).toMatchObject({
      publicId: `uploads/${I}/original`,
      fullId: `shop/uploads/${I}/original`,
    });
    expect(cloudinaryAsset(`products/${P}/${I}/original.png`, '')).toMatchObject({
      folder: '',
      fullId: `${P}/${I}/original`,
    });
  });

  it('refuses malformed keys and keys without an extension', () => {
    expect(() => cloudinaryAsset('../x.jpg', 'products/')).toThrow(/invalid storage key/);
    expect(() => cloudinaryAsset(`products/${P}/${I}/original`, 'products/')).toThrow(
      /without extension/,
    );
    expect(() => cloudinaryAsset(`products/${P}.d/original`, 'products/')).toThrow(
      /without extension/,
    );
  });
});
