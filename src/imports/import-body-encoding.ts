import { finished, Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../common/errors/app.error';
import { isMediaType } from '../common/http/media-type';
import { attachBodyTap, bodyTapOf } from '../idempotency/idempotent-attempt';
import { BodyTap } from '../idempotency/payload-digest';
import { BULK_IMPORT_BODY } from './import-body.pipe';

/** The codings an import's body may have: gzip (and its old name), or none. */
const GZIP = new Set(['gzip', 'x-gzip']);
const CLOSE = { Connection: 'close' };

/**
 * `POST /api/v1/imports` takes its JSON or CSV body gzip-compressed (`Content-Encoding: gzip`, as
 * catalogue exports and `curl --compressed` send it), where every other route refuses any coding
 * (common/http/content-encoding.ts, 415). The body is decompressed as it arrives, and the limit
 * that applies to it (BULK_IMPORT_MAX_BYTES for a CSV, the route's JSON limit) counts the
 * decompressed bytes: a gzip bomb stops there, 413 payload_too_large, as an uncompressed body of
 * that size would. A corrupt or truncated gzip stream is 400 (`invalid_csv`, `malformed_json`).
 * Any other coding (or gzip twice, or a gzip multipart form: busboy reads the request as sent) is
 * refused 415 naming what is taken.
 *
 * The route says so with DECODES_ITS_BODY, which the refusal of every other route
 * (common/http/content-encoding.ts) lets through; this module's preParsing hook, after the
 * pre-body authentication's, then refuses or decodes it. So a caller without access is refused
 * (401/403) before anything of the body is read, as before.
 *
 * A JSON body sent with an Idempotency-Key is hashed (idempotency.hooks.ts) as it is decoded, not
 * as received: gzip writes the time of compression into its header, so a retry of the same body,
 * compressed again, is other bytes on the wire, and the same request (as is the body sent as it is).
 */
export function registerImportBodyEncoding(fastify: FastifyInstance, maxCsvBytes: number): void {
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    if (!isImportRoute(request)) return done(null, payload);
    const codings = codingsOf(request.headers['content-encoding']);
    if (codings.length === 0 || !readsBody(request)) return done(null, payload);
    const type = request.headers['content-type'];
    // A form is read from the request as sent (busboy), whatever this stage would return.
    if (codings.length > 1 || !GZIP.has(codings[0]) || isMediaType(type, 'multipart/form-data')) {
      return done(unsupportedCoding(codings.join(', ')), payload);
    }
    const csv = isMediaType(type, 'text/csv');
    const limit = csv ? maxCsvBytes : request.routeOptions.bodyLimit;
    const decoded = gunzipped(payload, limit, csv ? CSV_ERRORS : JSON_ERRORS);
    if (bodyTapOf(request.raw) === undefined) return done(null, decoded);
    // The Idempotency-Key's hook ran first, over the compressed bytes: its digest is of the
    // decompressed ones instead, taken the same way.
    const tap = BodyTap.over(decoded);
    attachBodyTap(request.raw, tap);
    done(null, tap);
  });
}

function isImportRoute(request: FastifyRequest): boolean {
  const config = request.routeOptions.config as { bulkImportBody?: boolean } | undefined;
  return config?.bulkImportBody === BULK_IMPORT_BODY.bulkImportBody;
}

/** The codings named, in order, but `identity` (the one that changes nothing). */
function codingsOf(header: string | undefined): string[] {
  return (header ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/** As content-encoding.ts reads it: a body is sent (a length other than 0, or chunks). */
function readsBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (!!length && length !== '0');
}

function unsupportedCoding(codings: string): AppError {
  return new AppError(
    'unsupported_media_type',
    `An import's body is taken as it is or gzip-compressed (Content-Encoding: gzip), not as ` +
      `"${codings.slice(0, 100)}"; a multipart form only as it is.`,
  );
}

interface DecodingErrors {
  tooLarge: (limit: number) => AppError;
  corrupt: (reason: string) => AppError;
}

const CSV_ERRORS: DecodingErrors = {
  tooLarge: (limit) =>
    new AppError(
      'payload_too_large',
      `The CSV, decompressed, is larger than this endpoint accepts (${limit} bytes).`,
      [],
      CLOSE,
    ),
  corrupt: (reason) => new AppError('invalid_csv', notGzip(reason), [], CLOSE),
};

const JSON_ERRORS: DecodingErrors = {
  tooLarge: (limit) =>
    new AppError(
      'payload_too_large',
      `The JSON body, decompressed, is larger than this endpoint accepts (${limit} bytes).`,
      [],
      CLOSE,
    ),
  corrupt: (reason) => new AppError('malformed_json', notGzip(reason), [], CLOSE),
};

function notGzip(reason: string): string {
  return `The body is not a valid gzip stream (Content-Encoding: gzip): ${reason}.`;
}

/**
 * The payload gunzipped as it arrives, a stream that fails once more than `limit` bytes came out
 * of it. `payload` (the request) is only piped from, never destroyed: the answer goes on it. Once
 * the decoded stream ends or fails, nothing more is read or decompressed.
 */
function gunzipped(payload: Readable, limit: number, errors: DecodingErrors): DecodedLimit {
  const decoded = new DecodedLimit(limit, errors.tooLarge);
  // A CSV's reader comes later (the route's pipe) and finds the failure on the stream then
  // (stream.finished reports an earlier error); until it does, it is not an unhandled one.
  decoded.on('error', () => undefined);
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      decoded.receivedEncodedLength += chunk.length;
      done(null, chunk);
    },
  });
  const gunzip = createGunzip();
  gunzip.on('error', (error) => decoded.destroy(errors.corrupt(error.message)));
  payload.pipe(counted).pipe(gunzip).pipe(decoded);
  // The client hung up mid-body: said as readers of a request are told (csv-rows.ts).
  const stopWatching = finished(payload, { writable: false }, (error) => {
    if (error) decoded.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  });
  decoded.once('close', () => {
    stopWatching();
    payload.unpipe(counted);
    counted.destroy();
    gunzip.destroy();
  });
  return decoded;
}

/** The decoded body, with what Fastify compares with the Content-Length: the bytes received. */
class DecodedLimit extends Transform {
  receivedEncodedLength = 0;
  private bytes = 0;

  constructor(
    private readonly limit: number,
    private readonly tooLarge: (limit: number) => AppError,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return done(this.tooLarge(this.limit));
    done(null, chunk);
  }
}
