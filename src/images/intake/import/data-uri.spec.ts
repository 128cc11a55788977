import {
  DataUriEmptyError,
  DataUriDecoder,
  DataUriError,
  DataUriTooLargeError,
  decodedLength,
  parseDataUri,
} from './data-uri';

describe(parseDataUri.name, () => {
  const bytes = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
  const b64 = bytes.toString('base64');

  it('decodes a base64 image data URI and normalises the declared type', () => {
    expect(parseDataUri(`data:image/jpeg;base64,${b64}`, 100)).toEqual({
      declaredType: 'image/jpeg',
      data: bytes,
    });
    expect(parseDataUri(`DATA:Image/JPG;name=a.jpg;base64,${b64}`, 100).declaredType).toBe(
      'image/jpeg',
    );
    const wrapped = `data:image/png;base64,${b64.slice(0, 4)}\n${b64.slice(4)}`;
    expect(parseDataUri(wrapped, 100).data).toEqual(bytes);
  });

  it.each([
    ['image/pjpeg', 'image/jpeg'],
    ['image/x-png', 'image/png'],
    ['image/apng', 'image/png'],
    ['IMAGE/X-MS-BMP', 'image/bmp'],
    ['image/x-bmp', 'image/bmp'],
    ['image/webp', 'image/webp'],
  ])('reads the type %s as %s', (declared, type) => {
    expect(parseDataUri(`data:${declared};base64,${b64}`, 100).declaredType).toBe(type);
  });

  it.each([
    ['no type', `data:;base64,${b64}`],
    ['application/octet-stream', `data:application/octet-stream;base64,${b64}`],
  ])('takes an untyped value (%s), declaring nothing: its bytes say what it is', (_, value) => {
    expect(parseDataUri(value, 100)).toEqual({ declaredType: undefined, data: bytes });
  });

  it('takes a payload that ends without its padding, as Cloudinary does', () => {
    for (const length of [1, 2, 3, 4, 5]) {
      const data = bytes.subarray(0, length);
      const unpadded = data.toString('base64').replace(/=+$/, '');
      expect(parseDataUri(`data:image/png;base64,${unpadded}`, 100).data).toEqual(data);
      // In pieces too, the last one ending mid-quantum.
      const decoder = new DataUriDecoder(100);
      const pieces = [decoder.write('data:image/png;base64,'), decoder.write(unpadded)];
      expect(Buffer.concat([...pieces, decoder.end()])).toEqual(data);
    }
    // Two bytes unpadded are three characters: within a limit of two, past one.
    expect(parseDataUri('data:image/png;base64,AAA', 2).data).toHaveLength(2);
    expect(() => parseDataUri('data:image/png;base64,AAA', 1)).toThrow(DataUriTooLargeError);
  });

  it.each([
    ['not a data URI', 'https://example.com/a.jpg'],
    ['no base64 marker', `data:image/png,${b64}`],
    ['not an image type', `data:text/html;base64,${b64}`],
    ['empty payload', 'data:image/png;base64,'],
    ['bad characters', 'data:image/png;base64,ab$d'],
    ['bad length', 'data:image/png;base64,abcde'],
    ['padding short of its quantum', 'data:image/png;base64,abcdab='],
    ['a type that is not an image', `data:text/plain;base64,${b64}`],
    ['padding in the middle', 'data:image/png;base64,ab==abcd'],
  ])('refuses %s', (_, value) => {
    expect(() => parseDataUri(value, 100)).toThrow(DataUriError);
  });

  it('tells an empty payload (white space is none) from a malformed one', () => {
    expect(() => parseDataUri('data:image/png;base64,', 100)).toThrow(DataUriEmptyError);
    expect(() => parseDataUri('data:image/png;base64,\r\n ', 100)).toThrow(DataUriEmptyError);
    for (const value of ['data:image/png;base64,====', 'data:image/png;base64,==', 'data:,']) {
      expect(() => parseDataUri(value, 100)).toThrow(DataUriError);
      expect(() => parseDataUri(value, 100)).not.toThrow(DataUriEmptyError);
    }
  });

  it('refuses an oversized payload from its length, before decoding', () => {
    const big = 'A'.repeat(4 * 1000);
    expect(decodedLength(big)).toBe(3000);
    expect(decodedLength('AAA=')).toBe(2);
    expect(decodedLength('AA==')).toBe(1);
    const decode = jest.spyOn(Buffer, 'from');
    try {
      expect(() => parseDataUri(`data:image/png;base64,${big}`, 2999)).toThrow(
        DataUriTooLargeError,
      );
      expect(decode).not.toHaveBeenCalled();
    } finally {
      decode.mockRestore();
    }
    expect(parseDataUri(`data:image/png;base64,${big}`, 3000).data).toHaveLength(3000);
  });
});

describe(DataUriDecoder.name, () => {
  const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
  const uri = `data:image/png;base64,${bytes.toString('base64')}`;

  /** Feeds `text` in pieces of `size` characters; returns everything decoded. */
  function decodeInPieces(text: string, size: number, maxBytes = 10_000): Buffer {
    const decoder = new DataUriDecoder(maxBytes);
    const out: Buffer[] = [];
    for (let i = 0; i < text.length; i += size) out.push(decoder.write(text.slice(i, i + size)));
    decoder.end();
    expect(decoder.declaredType).toBe('image/png');
    return Buffer.concat(out);
  }

  it.each([1, 2, 3, 5, 64, 10_000])('decodes the same bytes in pieces of %i characters', (n) => {
    expect(decodeInPieces(uri, n).equals(bytes)).toBe(true);
  });

  it('ignores line breaks anywhere in the payload, across pieces', () => {
    const payload = bytes.toString('base64').replace(/(.{7})/g, '$1\r\n');
    expect(decodeInPieces(`data:image/png;base64,${payload}`, 11).equals(bytes)).toBe(true);
  });

  it('refuses the size as soon as it is passed, never decoding beyond the limit', () => {
    const decoder = new DataUriDecoder(999);
    expect(() => {
      for (let i = 0; i < uri.length; i += 100) decoder.write(uri.slice(i, i + 100));
    }).toThrow(DataUriTooLargeError);
    expect(decoder.size).toBeLessThanOrEqual(999);
  });

  it('refuses padding that is followed by more data, even in a later piece', () => {
    const decoder = new DataUriDecoder(100);
    decoder.write('data:image/png;base64,AA=');
    expect(() => decoder.write('=AAAA')).toThrow(DataUriError);
  });
});
