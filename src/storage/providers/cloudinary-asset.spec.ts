import { cloudinaryAsset, cloudinaryPrefix, keyOfCloudinaryAsset } from './cloudinary-asset';

const P = '0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const I = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

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

describe(keyOfCloudinaryAsset.name, () => {
  it('gives back the key an asset was stored under, with the format Cloudinary recorded', () => {
    for (const [key, folder] of [
      [`products/${P}/${I}/original.jpg`, 'products/'],
      [`uploads/${I}/card.webp`, 'products/'],
      ['products/blue-shoe.png', 'shop/'],
      [`uploads/${I}/original.png`, ''],
    ]) {
      const asset = cloudinaryAsset(key, folder);
      expect(keyOfCloudinaryAsset(asset.fullId, asset.extension, folder)).toBe(key);
    }
    expect(keyOfCloudinaryAsset('products/blue-shoe', 'avif', 'products/')).toBe(
      'products/blue-shoe.avif',
    );
  });

  it('leaves out assets outside the folder', () => {
    expect(keyOfCloudinaryAsset('samples/cat', 'jpg', 'products/')).toBeUndefined();
    expect(keyOfCloudinaryAsset('products/', 'jpg', 'products/')).toBeUndefined();
  });
});

describe(cloudinaryPrefix.name, () => {
  it('lists product keys from the folder itself, other keys below it', () => {
    expect(cloudinaryPrefix('products/', 'products/')).toBe('products/');
    expect(cloudinaryPrefix(`products/${P}/`, 'shop/')).toBe(`shop/${P}/`);
    expect(cloudinaryPrefix('uploads/', 'products/')).toBe('products/uploads/');
    expect(cloudinaryPrefix('uploads/', '')).toBe('uploads/');
  });
});
