import { join } from 'node:path';
import { cloudinaryAsset } from './providers/cloudinary-asset';
import {
  imageObjectKey,
  importedImageKey,
  isImageFileKey,
  isPathBelow,
  isServableKey,
  isValidKey,
  keyStem,
  resolveKeyPath,
} from './storage-keys';

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

describe(isPathBelow.name, () => {
  it('is a path strictly below the folder, never the folder, a sibling or a way out', () => {
    expect(isPathBelow('/srv/media', '/srv/media/products/x.jpg')).toBe(true);
    expect(isPathBelow('/srv/media', '/srv/media/..x/y.jpg')).toBe(true);
    for (const path of ['/srv/media', '/srv/media-2/x.jpg', '/srv/x.jpg', '/etc/passwd']) {
      expect(isPathBelow('/srv/media', path)).toBe(false);
    }
  });
});

describe(importedImageKey.name, () => {
  const productId = '6f1c1a52-4f0e-4b8e-9a57-2f5d0c3e8b11';

  it("is the slug in products/, or the slug and the product's id when it is taken", () => {
    expect(importedImageKey('blue-shoe', 'jpg')).toBe('products/blue-shoe.jpg');
    expect(importedImageKey('blue-shoe', 'png', productId)).toBe(
      `products/blue-shoe-${productId}.png`,
    );
    expect(cloudinaryAsset(importedImageKey('blue-shoe', 'jpg'), 'products/')).toMatchObject({
      folder: 'products/',
      publicId: 'blue-shoe',
      fullId: 'products/blue-shoe',
    });
  });

  it('refuses anything but a slug and a UUID', () => {
    for (const slug of ['', 'Blue', '../x', 'a/b', 'a.b', '-a', 'a--b']) {
      expect(() => importedImageKey(slug, 'jpg')).toThrow();
    }
    expect(() => importedImageKey('a', 'jpg', 'not-a-uuid')).toThrow();
    expect(() => importedImageKey('a', 'j/g')).toThrow();
  });
});

describe(isImageFileKey.name, () => {
  it("is an image's file by its ids, never a slug key (servable, but someone else's asset may have its shape)", () => {
    expect(isImageFileKey(imageObjectKey({ productId: P }, I, 'original', 'jpg'))).toBe(true);
    expect(isImageFileKey(`uploads/${I}/card.webp`)).toBe(true);
    for (const key of ['products/blue-shoe.jpg', 'products/sample.jpg', `derived/${I}/w640.webp`]) {
      expect({ key, file: isImageFileKey(key) }).toEqual({ key, file: false });
    }
    expect(isServableKey('products/blue-shoe.jpg')).toBe(true);
  });
});

describe(keyStem.name, () => {
  it('drops the extension of the last segment only', () => {
    expect(keyStem('products/blue-shoe.jpg')).toBe('products/blue-shoe');
    expect(keyStem('products/a.b/c')).toBe('products/a.b/c');
    expect(keyStem('uploads/x/original.webp')).toBe('uploads/x/original');
  });
});

describe(isServableKey.name, () => {
  it('accepts every shape of key the service writes, with an image extension', () => {
    for (const extension of ['jpg', 'png', 'gif', 'webp', 'avif', 'svg']) {
      expect(isServableKey(imageObjectKey({ productId: P }, I, 'original', extension))).toBe(true);
      expect(isServableKey(imageObjectKey({ productId: null }, I, 'thumb', extension))).toBe(true);
      expect(isServableKey(importedImageKey('blue-shoe', extension))).toBe(true);
      expect(isServableKey(importedImageKey('blue-shoe', extension, P))).toBe(true);
    }
    expect(isServableKey(imageObjectKey({ productId: P }, I, 'card_2x', 'webp'))).toBe(true);
  });

  it.each([
    'jwt-secret',
    'pglite/PG_VERSION',
    'tmp/uploads/0b6f8e1c.upload',
    '.tmp/7c9e6679.part',
    'notes.txt',
    'original.jpg',
    `products/${P}/${I}/original.html`,
    `products/${P}/${I}/original.jpg.txt`,
    `products/${P}/${I}/original`,
    `products/${P}/${I}/sub/original.jpg`,
    `products/${P}/original.jpg/x`,
    `products/not-a-uuid/${I}/original.jpg`,
    `uploads/${I}/original.exe`,
    `uploads/${I}/${I}/original.jpg`,
    `uploads/x.jpg`,
    `other/${P}/${I}/original.jpg`,
    'products/blue-shoe.txt',
    'products/Blue-Shoe.jpg',
    'products/../jwt-secret',
    `products/${P.toUpperCase()}/${I}/original.jpg`,
  ])('refuses %j', (key) => {
    expect(isServableKey(key)).toBe(false);
  });
});
