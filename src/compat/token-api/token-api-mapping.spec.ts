import type { ImageDto } from '../../images/dto/image.dto';
import { ImagePurpose } from '../../images/entities/image.entity';
import {
  TOKEN_API_MODES,
  TOKEN_API_TYPES,
  toTokenApiImage,
  tokenApiMode,
  tokenApiType,
  tokenApiUser,
} from './token-api-mapping';

const IMAGE: ImageDto = {
  id: '9bYsGJZVNPTSbQeJxuSeuy',
  product_id: 'kYLvcQoew7krvywNq5hQZJ',
  purpose: ImagePurpose.Product,
  title: 'Front',
  alt_text: 'Product front view',
  description: 'Mesh upper',
  is_primary: true,
  priority: 1,
  original_filename: 'product_image.jpg',
  format: 'jpeg',
  mime_type: 'image/jpeg',
  width: 1200,
  height: 900,
  size: 2621440,
  human_readable_size: '2.5 MB',
  color_mode: 'RGB',
  has_alpha: false,
  sha256: 'ab'.repeat(32),
  url: 'http://media.test/media/products/p/i/original.jpg',
  renditions: {},
  responsive: {},
  uploaded_by: { id: 'kYLvcQoew7krvywNq5hQZJ', username: 'stella', full_name: 'Stella Example' },
  created_at: new Date('2026-11-22T10:15:00.000Z'),
  updated_at: new Date('2026-11-22T10:16:00.000Z'),
};

describe(tokenApiType.name, () => {
  it('names every stored format as PIL does, upper-cased', () => {
    expect(['jpeg', 'png', 'gif', 'webp', 'avif', 'svg'].map(tokenApiType)).toEqual([
      'JPEG',
      'PNG',
      'GIF',
      'WEBP',
      'AVIF',
      'SVG',
    ]);
    expect(TOKEN_API_TYPES).toEqual(['JPEG', 'PNG', 'GIF', 'WEBP', 'AVIF', 'SVG']);
  });
});

describe(tokenApiMode.name, () => {
  it("maps the service's colour modes to PIL's", () => {
    expect(tokenApiMode('jpeg', 'RGB')).toBe('RGB');
    expect(tokenApiMode('png', 'RGBA')).toBe('RGBA');
    expect(tokenApiMode('jpeg', 'CMYK')).toBe('CMYK');
    expect(tokenApiMode('png', 'GRAYSCALE')).toBe('L');
    expect(tokenApiMode('webp', 'GRAYSCALE_ALPHA')).toBe('LA');
  });

  it('calls every GIF a palette image (P), whatever its colours', () => {
    for (const mode of ['RGB', 'RGBA', 'GRAYSCALE']) expect(tokenApiMode('gif', mode)).toBe('P');
  });

  it('only ever gives a documented mode for the modes the service records', () => {
    for (const format of ['jpeg', 'png', 'gif', 'webp', 'avif', 'svg']) {
      for (const mode of ['RGB', 'RGBA', 'CMYK', 'GRAYSCALE', 'GRAYSCALE_ALPHA']) {
        expect(TOKEN_API_MODES).toContain(tokenApiMode(format, mode));
      }
    }
  });
});

describe(tokenApiUser.name, () => {
  it('is the uploader, by number', () => {
    expect(tokenApiUser(IMAGE.uploaded_by, 7, null)).toEqual({
      id: 7,
      username: 'stella',
      full_name: 'Stella Example',
    });
  });

  it('is number 0 with the API key name when the upload names no user', () => {
    expect(tokenApiUser(null, null, 'nightly import')).toEqual({
      id: 0,
      username: '',
      full_name: 'nightly import',
    });
    expect(tokenApiUser(null, null, null)).toEqual({ id: 0, username: '', full_name: '' });
    // A user gone between the upload and the read of its number.
    expect(tokenApiUser(IMAGE.uploaded_by, null, 'key')).toEqual({
      id: 0,
      username: '',
      full_name: 'key',
    });
  });
});

describe(toTokenApiImage.name, () => {
  it('gives exactly the documented fields, from the main API image', () => {
    const user = { id: 7, username: 'stella', full_name: 'Stella Example' };
    expect(toTokenApiImage(IMAGE, 42, user)).toEqual({
      id: 42,
      type: 'JPEG',
      user,
      name: 'product_image.jpg',
      f: IMAGE.url,
      size: 2621440,
      description: 'Mesh upper',
      width: 1200,
      height: 900,
      human_readable_size: '2.5 MB',
      mode: 'RGB',
      created_at: IMAGE.created_at,
      updated_at: IMAGE.updated_at,
    });
  });
});
