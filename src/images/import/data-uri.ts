/** A `data:image/…;base64,…` value, decoded. */
export interface DataUriImage {
  /** The declared type, lower-cased, with `image/jpg` read as `image/jpeg`. */
  declaredType: string;
  data: Buffer;
}

export class DataUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataUriError';
  }
}

export class DataUriTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(`the decoded image would be ${bytes} bytes`);
    this.name = 'DataUriTooLargeError';
  }
}

const HEADER = /^data:(image\/[a-z0-9.+-]{1,64})((?:;[a-z0-9-]{1,32}=[^;,]{0,128}){0,4});base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function isDataUri(value: string): boolean {
  return value.slice(0, 5).toLowerCase() === 'data:';
}

/** The decoded size of base64 text of this length and padding, without decoding it. */
export function decodedLength(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return (base64.length / 4) * 3 - padding;
}

/**
 * Parses `data:image/<type>[;param=value];base64,<payload>`. The size is checked from the
 * payload's length before anything is decoded; whitespace in the payload (line-wrapped base64)
 * is ignored. Throws {@link DataUriError} or {@link DataUriTooLargeError}.
 */
export function parseDataUri(value: string, maxBytes: number): DataUriImage {
  const header = HEADER.exec(value);
  if (!header) {
    throw new DataUriError('Expected data:image/<type>;base64,<payload>.');
  }
  const payload = value.slice(header[0].length).replace(/\s+/g, '');
  if (payload.length === 0 || payload.length % 4 !== 0 || !BASE64.test(payload)) {
    throw new DataUriError('The payload is not valid base64.');
  }
  const size = decodedLength(payload);
  if (size > maxBytes) throw new DataUriTooLargeError(size);
  const declared = header[1].toLowerCase();
  return {
    declaredType: declared === 'image/jpg' ? 'image/jpeg' : declared,
    data: Buffer.from(payload, 'base64'),
  };
}
