import { StorageWriteError, type ImageFile, type ImageToStore } from '../image-storage';
import type { StorageProvider } from '../storage-provider';
import { FilesImageStorage } from './files.image-storage';

const file = (extension: string, width: number, height: number): ImageFile => ({
  buffer: Buffer.alloc(width),
  mimeType: extension === 'png' ? 'image/png' : 'image/webp',
  extension,
  format: extension,
  width,
  height,
});

const image: ImageToStore = {
  original: file('png', 40, 30),
  renditions: [
    {
      name: 'thumb',
      transform: { width: 15, height: 15, fit: 'cover' },
      file: () => file('webp', 15, 15),
    },
  ],
  keyOf: (variant, extension) => `uploads/x/${variant}.${extension}`,
};

function provider(put: StorageProvider['put']): StorageProvider {
  return {
    driver: 'test',
    put,
    delete: jest.fn(),
    exists: jest.fn(),
    list: jest.fn(),
    url: (key) => Promise.resolve(`https://files.example/${key}`),
    check: jest.fn(),
  };
}

describe(FilesImageStorage.name, () => {
  it('writes the original and every rendition as files, each key noted before it is written', async () => {
    const put = jest.fn((key: string) => Promise.resolve({ key, size: 7 }));
    const written: string[] = [];
    const stored = await new FilesImageStorage(provider(put)).store(image, written);
    expect(written).toEqual(['uploads/x/original.png', 'uploads/x/thumb.webp']);
    expect(put.mock.calls.map((call) => call[0])).toEqual(written);
    expect(stored).toEqual({
      key: 'uploads/x/original.png',
      format: 'png',
      width: 40,
      height: 30,
      size: 7,
      version: null,
      renditions: {
        thumb: { key: 'uploads/x/thumb.webp', width: 15, height: 15, format: 'webp', size: 15 },
      },
    });
  });

  it('names the key whose write failed', async () => {
    const put = jest.fn(() => Promise.reject(new Error('disk full')));
    const written: string[] = [];
    const storing = new FilesImageStorage(provider(put)).store(image, written);
    await expect(storing).rejects.toBeInstanceOf(StorageWriteError);
    await expect(storing).rejects.toMatchObject({ key: 'uploads/x/original.png' });
    expect(written).toEqual(['uploads/x/original.png']);
  });

  it('hands out the URL of a stored file, and refuses a rendition derived at delivery', async () => {
    const images = new FilesImageStorage(provider(jest.fn()));
    await expect(images.url({ key: 'uploads/x/thumb.webp' })).resolves.toBe(
      'https://files.example/uploads/x/thumb.webp',
    );
    expect(() =>
      images.url({ key: 'a.png', transform: { width: 1, height: 1, fit: 'cover' } }),
    ).toThrow('test storage stores renditions');
  });
});
