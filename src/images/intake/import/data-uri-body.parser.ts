import {
  PassThrough,
  pipeline,
  Transform,
  type Readable,
  type TransformCallback,
} from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import parser from 'stream-json/parser.js';
import stringer from 'stream-json/stringer.js';
import { AppError } from '../../../common/errors/app.error';
import { RequestSpool, spoolWriteProblem } from '../upload-spool';
import { DataUriExtractor } from './data-uri-extractor';
import { notUtf8Json } from '../../../common/http/json-body.parser';
import { isMediaType } from '../../../common/http/media-type';

export interface DataUriBodyOptions {
  /** Where decoded images are spooled. */
  tmpDir: string;
  /** The largest image, decoded (MAX_UPLOAD_BYTES). */
  maxBytes: number;
  /** The largest JSON around the image (JSON_BODY_LIMIT_BYTES). */
  jsonLimit: number;
}

/**
 * The body of a route that takes `{ "image": "data:image/…;base64,…" }` (DATA_URI_BODY): a
 * preParsing hook, so it runs only once onRequest (authentication) has let the request through,
 * and reads the body as a stream. The image is decoded while it arrives, into a file of the
 * request's spool, and never held as one string of megabytes (a 15 MB image is a 20 MB JSON
 * string, which JSON.parse would hold two or three times over). What reaches the route's own
 * JSON parser is the rest of the body, with a token in place of the data URI: small, and parsed
 * and validated like any other body. A URL, or anything that is not a data URI, passes unchanged.
 *
 * stream-json tokenises the body with strings in chunks; DataUriExtractor takes the image's.
 */
export function dataUriBodyParsing(options: DataUriBodyOptions) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: Readable) => {
    const bodyLimit = request.routeOptions.bodyLimit;
    const declared = Number(request.headers['content-length']);
    // Not JSON: the content type is refused as usual. Over the limit: refused unread by Fastify.
    if (!isMediaType(request.headers['content-type'], 'application/json') || declared > bodyLimit) {
      return payload;
    }
    return streamedBody(payload, bodyLimit, {
      ...options,
      spool: RequestSpool.of(request, reply.raw),
    });
  };
}

function streamedBody(
  payload: Readable,
  bodyLimit: number,
  options: DataUriBodyOptions & { spool: RequestSpool },
): Readable {
  const counter = new ByteLimit(bodyLimit);
  const utf8 = new Utf8Only();
  const tokens = parser.asStream({ packValues: false, streamValues: true });
  const rest = new ByteLimit(options.jsonLimit);
  const body = new PassThrough();
  const extractor = new DataUriExtractor(options);
  const stages = [counter, utf8, tokens, extractor, stringer.asStream({ useValues: false }), rest];
  // The stage that failed first: pipeline() then destroys the others with the same error.
  let failed: unknown;
  for (const stage of stages) stage.once('error', () => (failed ??= stage));
  pipeline(stages, (error) => {
    if (!error) return;
    const answer =
      failed === tokens
        ? new AppError('malformed_json', 'The request body is not valid JSON.')
        : answerFor(error);
    // A refused body's image is never used: removed before the refusal is answered.
    void extractor.discard().finally(() => body.destroy(answer));
  });
  rest.pipe(body);
  // The request itself is only piped from, never destroyed here: it must stay open for the answer.
  payload.pipe(counter);
  payload.once('error', (error) => counter.destroy(error));
  payload.once('close', () => {
    // As Node reports a request aborted mid-body (a client error, not the service's).
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    if (!payload.readableEnded) counter.destroy(aborted);
  });
  // Fastify compares this with Content-Length, and with the route's limit.
  Object.defineProperty(body, 'receivedEncodedLength', { get: () => counter.bytes });
  return body;
}

/**
 * The client's errors (a refusal, the request aborted) as they are; the spool's disk full or its
 * folder unusable is 503 upload_spool_full or upload_spool_unavailable; any other failure is the
 * service's: a 500, where Fastify would make any error of a body a 400.
 */
function answerFor(error: Error): Error {
  if (error instanceof AppError) return error;
  if ((error as { code?: unknown }).code === 'ECONNRESET') {
    // The client hung up mid-body: nobody reads this answer, but it is a client's outcome, not
    // the 500 an unknown error becomes (logged and counted as a fault of the service).
    return new AppError('malformed_json', 'The request body ended before the JSON did.');
  }
  const spoolFailure = spoolWriteProblem(error);
  if (spoolFailure !== error) return spoolFailure as AppError;
  return Object.assign(error, { statusCode: 500 });
}

/** Counts the bytes that pass, and refuses more than `limit` (413 payload_too_large). */
class ByteLimit extends Transform {
  bytes = 0;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, done: TransformCallback) {
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (this.bytes > this.limit) {
      return done(
        new AppError('payload_too_large', 'The request body is larger than this endpoint accepts.'),
      );
    }
    done(null, chunk);
  }
}

/**
 * Refuses bytes that are not UTF-8 (400 malformed_json), as the JSON parser of every other route
 * does (RFC 8259 §8.1): stream-json decodes leniently, so a windows-1252 "é" would reach the
 * image's name or the route's fields as U+FFFD. A character split across chunks is decoded whole
 * (`stream: true`); one cut off by the end of the body is refused at the end.
 */
class Utf8Only extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
    try {
      this.decoder.decode(chunk, { stream: true });
    } catch {
      return done(notUtf8Json());
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback) {
    try {
      this.decoder.decode();
    } catch {
      return done(notUtf8Json());
    }
    done();
  }
}
