import { randomUUID } from 'node:crypto';

/** An image a request body carried as a data URI, already decoded into a temporary file. */
export interface SpooledDataUri {
  path: string;
  /** The image type the data URI declared, normalised; none if untyped (see DataUriDecoder). */
  declaredType?: string;
}

const PREFIX = 'urn:spooled-data-uri:';

/**
 * The body parser of the data-URI routes decodes the image into a file and puts a token in the
 * body where the data URI was; the importer takes the file by that token. A token is random, only
 * ever made here, and lives no longer than its request, so a client cannot name another request's
 * file: a token it made up is just an unknown URL.
 */
const spooled = new Map<string, SpooledDataUri>();

/** Registers a decoded image; returns the token that stands for it in the body. */
export function spoolToken(image: SpooledDataUri): string {
  const token = `${PREFIX}${randomUUID()}`;
  spooled.set(token, image);
  return token;
}

/** The image a token stands for, handed over once (the taker now removes the file). */
export function takeSpooledDataUri(value: string): SpooledDataUri | undefined {
  if (!value.startsWith(PREFIX)) return undefined;
  const image = spooled.get(value);
  spooled.delete(value);
  return image;
}

/** Forgets a token whose file was removed with its request. */
export function forgetSpooledDataUri(token: string): void {
  spooled.delete(token);
}
