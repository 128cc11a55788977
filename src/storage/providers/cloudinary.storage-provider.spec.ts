import { setTimeout as sleep } from 'node:timers/promises';
import { v2 as cloudinary } from 'cloudinary';
import { CloudinaryStorageProvider } from './cloudinary.storage-provider';
import { deadlineStorage } from './deadline.storage-provider';

describe(CloudinaryStorageProvider.name, () => {
  afterEach(() => jest.restoreAllMocks());

  it('lists a prefix through pages of other keys, each in time, past a deadline they add up to', async () => {
    const provider = new CloudinaryStorageProvider({
      cloudName: 'demo',
      apiKey: 'key',
      apiSecret: 'secret',
      settings: {},
      folder: 'products/',
      timeoutMs: 1000,
    });
    // The folder listed for `products/` holds the `uploads/` assets too: three pages of them,
    // each answered well within the deadline, then the one product asset.
    const pages = [
      { resources: [upload('uploads/a')], next_cursor: '1' },
      { resources: [upload('uploads/b')], next_cursor: '2' },
      { resources: [upload('uploads/c')], next_cursor: '3' },
      { resources: [upload('p/i/card')] },
    ];
    let asked = 0;
    jest.spyOn(cloudinary.api, 'resources').mockImplementation(async () => {
      await sleep(150);
      return pages[asked++];
    });
    const storage = deadlineStorage(provider, 300);
    const keys: string[] = [];
    for await (const object of storage.list('products/')) keys.push(object.key);
    expect(keys).toEqual(['products/p/i/card.webp']);
    expect(asked).toBe(4);
  });
});

/** An asset of the folder, as the Admin API lists it. */
function upload(id: string) {
  return { public_id: `products/${id}`, format: 'webp', created_at: '2026-01-01T00:00:00Z' };
}
