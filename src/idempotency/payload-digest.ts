import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * The SHA-256 of a request's payload, which with its method and path makes its fingerprint: two
 * requests with one Idempotency-Key are the same request exactly when the three are equal.
 *
 * What is hashed is the payload as the route reads it, so that a retry of the same request by
 * the same client matches however its body was framed:
 *
 * - a JSON body: its bytes as received ({@link BodyTap});
 * - a multipart upload: the validated text fields, the file's name and the SHA-256 of its bytes
 *   ({@link uploadDigest}); the raw body would not do, since clients (curl, browsers, requests,
 *   fetch) draw a new random boundary for every request, retries included;
 * - a bulk import's CSV (a `text/csv` body or a multipart file): its rows as parsed
 *   ({@link RowsDigest}), known only once the import has read them all.
 */
export interface PayloadDigest {
  /** The hex digest, once the payload has been read whole; undefined until then. */
  readonly value: string | undefined;
  /**
   * Reads what is left of the payload, without using it, and answers the digest: for a retry
   * that is compared with the request it repeats instead of being done.
   */
  settle(): Promise<string>;
}

/** A digest known at once. */
export class KnownDigest implements PayloadDigest {
  constructor(readonly value: string) {}

  settle(): Promise<string> {
    return Promise.resolve(this.value);
  }
}

/**
 * JSON with the keys of every object in one fixed order and nothing but JSON values, so that
 * equal values always hash alike (a DTO's keys follow the order its fields were set in).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, member: unknown) => {
    if (!member || typeof member !== 'object' || Array.isArray(member)) return member;
    const entries = Object.entries(member).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries);
  });
}

/** A file received with an upload, spooled to disk (see images/intake/multipart-upload.ts). */
export interface SpooledFile {
  path: string;
  filename: string;
}

/** A multipart upload as its route reads it: its one file and its validated text fields. */
export interface SpooledUpload {
  file: SpooledFile;
  fields: object;
}

/** The digest of a multipart upload: its fields, its file's name and its file's bytes. */
export async function uploadDigest(upload: SpooledUpload): Promise<KnownDigest> {
  const file = createHash('sha256');
  await pipeline(createReadStream(upload.file.path), file);
  const described = {
    fields: upload.fields,
    filename: upload.file.filename,
    file_sha256: file.digest('hex'),
  };
  return new KnownDigest(sha256(`upload\n${canonicalJson(described)}`));
}

/**
 * A request body's bytes hashed as they pass on to the body parser (a preParsing stage): the
 * digest is there once the parser has read the body, before the route's handler runs. It reads
 * only what its consumer asks for, and never ends the request, which must stay open for the
 * answer.
 */
export class BodyTap extends Transform implements PayloadDigest {
  private readonly hash = createHash('sha256').update('bytes\n');
  private digest: string | undefined;
  private passed = 0;

  private constructor(private readonly source: Readable & { receivedEncodedLength?: number }) {
    super();
  }

  /**
   * The bytes received, for Fastify's Content-Length check and body limit: those passed, or, over
   * a stage that decodes the body (a gzip import's), what that stage counted of the request.
   */
  get receivedEncodedLength(): number {
    return this.source.receivedEncodedLength ?? this.passed;
  }

  static over(payload: Readable & { receivedEncodedLength?: number }): BodyTap {
    const tap = new BodyTap(payload);
    payload.pipe(tap);
    payload.once('error', (error) => tap.destroy(error));
    payload.once('close', () => {
      // As Node reports a request aborted mid-body (a client error, not the service's).
      const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      if (!payload.readableEnded) tap.destroy(aborted);
    });
    return tap;
  }

  get value(): string | undefined {
    return this.digest;
  }

  settle(): Promise<string> {
    // Fastify parses a JSON body whole before the route's handler runs.
    if (this.digest === undefined) return Promise.reject(new Error('The body was not read'));
    return Promise.resolve(this.digest);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.passed += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    done();
  }
}

/**
 * The digest of a bulk import's rows as the import reads them ({@link wrap}): known once the last
 * row has been read, so never for an import refused halfway.
 */
export class RowsDigest implements PayloadDigest {
  private readonly hash: Hash;
  private digest: string | undefined;
  private rows: AsyncIterable<unknown> | undefined;

  constructor(format: string) {
    this.hash = createHash('sha256').update(`rows ${format}\n`);
  }

  get value(): string | undefined {
    return this.digest;
  }

  /** The same rows, hashed as they are read (once). */
  wrap(rows: AsyncIterable<unknown> | Iterable<unknown>): AsyncIterable<unknown> {
    this.rows = this.hashed(rows);
    return this.rows;
  }

  async settle(): Promise<string> {
    if (!this.rows) throw new Error('RowsDigest.settle() before wrap()');
    for await (const row of this.rows) void row;
    if (this.digest === undefined) throw new Error('The rows were read by someone else');
    return this.digest;
  }

  private async *hashed(rows: AsyncIterable<unknown> | Iterable<unknown>): AsyncGenerator<unknown> {
    for await (const row of rows) {
      this.hash.update(`${canonicalJson(row)}\n`);
      yield row;
    }
    this.digest = this.hash.digest('hex');
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
