import type { ImageToStore } from '../image-storage';
import { CloudinaryImageStorage } from './cloudinary.image-storage';
import type { CloudinaryStorageProvider } from './cloudinary.storage-provider';

describe(CloudinaryImageStorage.name, () => {
  const put = jest.fn((key: string) =>
    // Cloudinary measures what it keeps, and says so.
    Promise.resolve({ key, size: 9, width: 500, height: 500, format: 'jpeg', version: 1764662400 }),
  );
  const provider = {
    put,
    url: (key: string, v?: number) => Promise.resolve(`plain:${v ? `v${v}/` : ''}${key}`),
    transformedUrl: (key: string, t: { width: number }, v?: number) =>
      Promise.resolve(`w_${t.width}:${v ? `v${v}/` : ''}${key}`),
  } as unknown as CloudinaryStorageProvider;
  const renditionBytes = jest.fn();
  const image: ImageToStore = {
    original: {
      buffer: Buffer.alloc(3),
      mimeType: 'image/png',
      extension: 'png',
      format: 'png',
      width: 500,
      height: 500,
      transformedBy: { width: 500, height: 500, fit: 'attention' },
    },
    renditions: [
      { name: 'thumb', transform: { width: 150, height: 150, fit: 'cover' }, file: renditionBytes },
      {
        name: 'large',
        transform: { width: 1200, height: 1200, fit: 'inside' },
        file: renditionBytes,
      },
    ],
    keyOf: (variant, extension) => `products/slug-${variant}.${extension}`,
  };

  it('stores only the original, asking for its crop again, and records renditions as transformations of it', async () => {
    const written: string[] = [];
    const stored = await new CloudinaryImageStorage(provider).store(image, written);
    expect(renditionBytes).not.toHaveBeenCalled();
    expect(written).toEqual(['products/slug-original.png']);
    expect(put).toHaveBeenCalledWith(
      'products/slug-original.png',
      image.original.buffer,
      expect.objectContaining({
        contentType: 'image/png',
        transformOnUpload: { width: 500, height: 500, fit: 'attention' },
      }),
    );
    const key = 'products/slug-original.png';
    expect(stored).toEqual({
      key,
      format: 'jpeg',
      width: 500,
      height: 500,
      size: 9,
      version: 1764662400,
      renditions: {
        thumb: {
          key,
          width: 150,
          height: 150,
          format: 'auto',
          size: null,
          transform: { width: 150, height: 150, fit: 'cover' },
        },
        large: {
          key,
          width: 500,
          height: 500,
          format: 'auto',
          size: null,
          transform: { width: 1200, height: 1200, fit: 'inside' },
        },
      },
    });
  });

  it('hands out the original URL, or the transformed one for a derived rendition', async () => {
    const images = new CloudinaryImageStorage(provider);
    await expect(images.url({ key: 'a.png' })).resolves.toBe('plain:a.png');
    await expect(
      images.url({ key: 'a.png', transform: { width: 150, height: 150, fit: 'cover' } }),
    ).resolves.toBe('w_150:a.png');
  });

  it("puts the original's version in both, where its upload was given one", async () => {
    const images = new CloudinaryImageStorage(provider);
    await expect(images.url({ key: 'a.png', version: 7 })).resolves.toBe('plain:v7/a.png');
    const transform = { width: 150, height: 150, fit: 'cover' as const };
    await expect(images.url({ key: 'a.png', transform, version: 7 })).resolves.toBe(
      'w_150:v7/a.png',
    );
  });
});
