import type { DeliveryTransform } from '../image-transform';
import { CloudinaryStorageProvider } from './cloudinary.storage-provider';

/**
 * The Cloudinary URL a transform URL redirects to, for each fit and format: building it needs no
 * request, so the real provider (and the real SDK) builds it here.
 */
describe(CloudinaryStorageProvider.name, () => {
  const provider = new CloudinaryStorageProvider({
    cloudName: 'demo-cloud',
    apiKey: 'key',
    apiSecret: 'secret',
    settings: {},
    folder: 'products/',
    timeoutMs: 1000,
  });
  const key = 'products/p1/i1/original.jpg';
  const base = 'https://res.cloudinary.com/demo-cloud/image/upload';
  const transform = (overrides: Partial<DeliveryTransform>): DeliveryTransform => ({
    width: 320,
    height: 240,
    fit: 'cover',
    format: 'webp',
    quality: 80,
    ...overrides,
  });

  afterAll(() => provider.close());

  it.each<[string, Partial<DeliveryTransform>, string]>([
    ['cover', {}, 'c_fill,g_center,h_240,w_320/f_webp/q_80'],
    ['attention', { fit: 'attention' }, 'c_fill,g_auto,h_240,w_320/f_webp/q_80'],
    ['inside', { fit: 'inside' }, 'c_limit,h_240,w_320/f_webp/q_80'],
    [
      'contain as PNG',
      { fit: 'contain', format: 'png' },
      'b_rgb:00000000,c_pad,h_240,w_320/f_png/q_80',
    ],
    ['contain as JPEG', { fit: 'contain', format: 'jpeg' }, 'b_white,c_pad,h_240,w_320/f_jpg/q_80'],
    [
      'contain, format auto',
      { fit: 'contain', format: 'auto' },
      'b_rgb:00000000,c_pad,h_240,w_320/f_auto/q_80',
    ],
    ['JPEG', { format: 'jpeg', quality: 60 }, 'c_fill,g_center,h_240,w_320/f_jpg/q_60'],
    ['AVIF', { format: 'avif', quality: 50 }, 'c_fill,g_center,h_240,w_320/f_avif/q_50'],
    ['GIF', { format: 'gif', quality: 100 }, 'c_fill,g_center,h_240,w_320/f_gif/q_100'],
    ['format auto', { format: 'auto' }, 'c_fill,g_center,h_240,w_320/f_auto/q_80'],
  ])('delivers %s through its own transformation', async (_name, overrides, transformation) => {
    await expect(provider.deliveredUrl(key, transform(overrides))).resolves.toBe(
      `${base}/${transformation}/v1/products/p1/i1/original`,
    );
  });

  it('asks for the stored original of a stand-alone upload, below the folder', async () => {
    await expect(provider.deliveredUrl('uploads/i2/original.png', transform({}))).resolves.toBe(
      `${base}/c_fill,g_center,h_240,w_320/f_webp/q_80/v1/products/uploads/i2/original`,
    );
  });
});
