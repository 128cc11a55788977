/** A `data:image/…;base64,…` value, decoded. */
export interface DataUriImage {
  /** The declared image type, normalised (see DataUriDecoder.declaredType); none if untyped. */
  declaredType?: string;
  data: Buffer;
}

export class DataUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataUriError';
  }
}

/**
 * A well-formed data URI with no payload (`data:image/png;base64,`, or white space only): no image
 * at all, as an empty file is, rather than base64 gone wrong.
 */
export class DataUriEmptyError extends DataUriError {
  constructor() {
    super('The payload is empty: there is no image.');
    this.name = 'DataUriEmptyError';
  }
}

export class DataUriTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the decoded image is larger than ${maxBytes} bytes`);
    this.name = 'DataUriTooLargeError';
  }
}

/**
 * `data:<type>[;param=value]…;base64,`: an image type, or none or `application/octet-stream` (what
 * a browser's FileReader writes for a file it cannot type), as Cloudinary's uploader takes them.
 */
const HEADER =
  /^data:((?:image\/[a-z0-9.+-]{1,64}|application\/octet-stream)?)((?:;[a-z0-9-]{1,32}=[^;,]{0,128}){0,4});base64,$/i;
/** Other names in use for a type: old browsers' and Python's `mimetypes`. */
const TYPE_ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'image/x-png': 'image/png',
  // An animated PNG is a PNG: it is kept as its still image (see detectImageType).
  'image/apng': 'image/png',
  'image/x-ms-bmp': 'image/bmp',
  'image/x-bmp': 'image/bmp',
  'image/x-windows-bmp': 'image/bmp',
};
/** Longer than any header {@link HEADER} accepts: past this without a comma, it is not one. */
const MAX_HEADER_LENGTH = 1024;
const BASE64_DATA = /^[A-Za-z0-9+/]*$/;
const PADDING = /^=*$/;
const WHITESPACE = /\s+/g;

export function isDataUri(value: string): boolean {
  return value.slice(0, 5).toLowerCase() === 'data:';
}

/** The decoded size of base64 text of this length and padding, without decoding it. */
export function decodedLength(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return (base64.length / 4) * 3 - padding;
}

/**
 * Decodes `data:image/<type>[;param=value];base64,<payload>` piece by piece, as the text arrives,
 * so that an image of many megabytes is never held as one string: each {@link write} returns the
 * bytes its text completes. Whitespace in the payload (line-wrapped base64) is ignored. The size
 * is checked before each piece is decoded, so more than `maxBytes` is never decoded. Throws
 * {@link DataUriError} (its {@link DataUriEmptyError} for no payload) or
 * {@link DataUriTooLargeError}.
 */
export class DataUriDecoder {
  private header = '';
  private type?: string;
  /** Base64 characters not yet decoded: fewer than four, the rest of an incomplete quantum. */
  private pending = '';
  private padding = 0;
  private characters = 0;
  private decoded = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * The declared image type once the header is read: lower-cased, an alias read as its type
   * (`image/jpg`, `image/x-png`…); undefined for an untyped value (no type, or
   * `application/octet-stream`), whose bytes alone say what it is.
   */
  get declaredType(): string | undefined {
    return this.type || undefined;
  }

  /** Bytes decoded so far. */
  get size(): number {
    return this.decoded;
  }

  write(text: string): Buffer {
    if (this.type === undefined) {
      text = this.readHeader(text);
      if (this.type === undefined) return Buffer.alloc(0);
    }
    return this.decode(text.replace(WHITESPACE, ''));
  }

  /**
   * The end of the value: checks that the payload was complete, and returns the bytes of its last
   * two or three characters when it ends without the padding (`=`) that would complete them.
   */
  end(): Buffer {
    if (this.type === undefined) {
      throw new DataUriError('Expected data:image/<type>;base64,<payload>.');
    }
    if (this.characters === 0) throw new DataUriEmptyError();
    if (this.pending.length === 1 || (this.padding > 0 && this.pending.length > 0)) {
      throw new DataUriError('The payload is not valid base64.');
    }
    if (this.pending.length === 0) return Buffer.alloc(0);
    const size = this.pending.length - 1;
    if (this.decoded + size > this.maxBytes) throw new DataUriTooLargeError(this.maxBytes);
    const bytes = Buffer.from(this.pending, 'base64');
    this.pending = '';
    this.decoded += bytes.length;
    return bytes;
  }

  /** Takes the header from the text once its comma has come; returns the text after it. */
  private readHeader(text: string): string {
    const comma = text.indexOf(',');
    this.header += comma < 0 ? text : text.slice(0, comma + 1);
    if (this.header.length > MAX_HEADER_LENGTH) {
      throw new DataUriError('Expected data:image/<type>;base64,<payload>.');
    }
    if (comma < 0) return '';
    const match = HEADER.exec(this.header);
    if (!match) throw new DataUriError('Expected data:image/<type>;base64,<payload>.');
    const declared = match[1].toLowerCase();
    this.type = declared === 'application/octet-stream' ? '' : (TYPE_ALIASES[declared] ?? declared);
    return text.slice(comma + 1);
  }

  private decode(text: string): Buffer {
    if (text.length === 0) return Buffer.alloc(0);
    this.checkCharacters(text);
    this.characters += text.length;
    const available = this.pending + text;
    const complete = available.length - (available.length % 4);
    this.pending = available.slice(complete);
    if (complete === 0) return Buffer.alloc(0);
    const quanta = available.slice(0, complete);
    const size = (complete / 4) * 3 - (this.pending.length === 0 ? this.padding : 0);
    if (this.decoded + size > this.maxBytes) {
      throw new DataUriTooLargeError(this.maxBytes);
    }
    const bytes = Buffer.from(quanta, 'base64');
    this.decoded += bytes.length;
    return bytes;
  }

  /** Base64 characters, then at most two `=` at the very end. */
  private checkCharacters(text: string): void {
    const firstPad = this.padding > 0 ? 0 : text.indexOf('=');
    const data = firstPad < 0 ? text : text.slice(0, firstPad);
    const pad = firstPad < 0 ? '' : text.slice(firstPad);
    if (!BASE64_DATA.test(data) || !PADDING.test(pad) || this.padding + pad.length > 2) {
      throw new DataUriError('The payload is not valid base64.');
    }
    this.padding += pad.length;
  }
}

/**
 * Parses a whole `data:image/<type>[;param=value];base64,<payload>` value held in memory (the
 * request body parser streams it instead; see DataUriDecoder). Throws {@link DataUriError} or
 * {@link DataUriTooLargeError}.
 */
export function parseDataUri(value: string, maxBytes: number): DataUriImage {
  const decoder = new DataUriDecoder(maxBytes);
  const data = Buffer.concat([decoder.write(value), decoder.end()]);
  return { declaredType: decoder.declaredType, data };
}
