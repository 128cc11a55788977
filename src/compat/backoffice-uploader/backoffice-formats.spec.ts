import { BACKOFFICE_MAX_BYTES, backofficeLimit, isBackofficeFormat } from './backoffice-formats';

describe(isBackofficeFormat.name, () => {
  it.each(['image/jpeg', 'image/png', 'image/apng', 'image/gif', 'image/webp'])(
    'accepts %s',
    (type) => expect(isBackofficeFormat(type)).toBe(true),
  );

  it.each(['image/avif', 'image/bmp', 'image/svg+xml', 'application/xml', 'text/plain', undefined])(
    'refuses %s',
    (type) => expect(isBackofficeFormat(type)).toBe(false),
  );
});

describe(backofficeLimit.name, () => {
  it('is 15 MiB, or the general limit when that is lower', () => {
    expect(BACKOFFICE_MAX_BYTES).toBe(15_728_640);
    expect(backofficeLimit(100 * 1024 * 1024)).toBe(BACKOFFICE_MAX_BYTES);
    expect(backofficeLimit(1000)).toBe(1000);
  });
});
