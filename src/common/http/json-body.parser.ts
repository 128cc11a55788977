import { isUtf8 } from 'node:buffer';
import type { FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError } from '../errors/app.error';
import { jsonNestingPath, jsonTooDeep } from './json-depth';

/**
 * The JSON body parser: secure-json-parse (rejects `__proto__` and `constructor.prototype`
 * poisoning) and a stable `malformed_json` problem instead of a parser's message. Bodies nested
 * deeper than MAX_JSON_DEPTH are refused first (400 validation_failed naming where): JSON.parse
 * copes, but the recursive walks after it (class-transformer, validation) overflow the stack.
 */
export function parseJsonBody(
  _request: FastifyRequest,
  body: Buffer | string,
  done: (err: Error | null, body?: unknown) => void,
): void {
  // JSON is UTF-8 (RFC 8259 §8.1): other bytes are refused, not stored as U+FFFD ("Cr�me" from a
  // client sending windows-1252), as lone surrogates are.
  if (typeof body !== 'string' && !isUtf8(body)) {
    done(notUtf8Json());
    return;
  }
  const text = typeof body === 'string' ? body : body.toString('utf8');
  // No body, whatever Content-Type says: many clients send `Content-Type: application/json` on
  // every request, DELETEs and body-less POSTs included. A route that takes no body answers as
  // without the header; one that needs a body says what is missing from it (validation_failed).
  if (text.trim() === '') {
    done(null, undefined);
    return;
  }
  const tooDeep = jsonNestingPath(text);
  if (tooDeep !== undefined) {
    done(jsonTooDeep(tooDeep));
    return;
  }
  let parsed: unknown;
  try {
    parsed = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    done(parseProblem(error));
    return;
  }
  // `null` is no object: refused as a number or a list is, not read as an empty PATCH.
  if (parsed === null) {
    done(
      new AppError('validation_failed', 'Invalid value for: body.', [
        { field: 'body', message: 'must be a JSON object, not null' },
      ]),
    );
    return;
  }
  done(null, parsed);
}

/** Why JSON.parse (or secure-json-parse's poisoning check) refused the body. */
function parseProblem(error: unknown): AppError {
  const message = error instanceof Error ? error.message : '';
  // Valid JSON, refused all the same: such a key could reach an object's prototype.
  if (/forbidden (prototype|constructor) property/.test(message)) {
    return new AppError(
      'malformed_json',
      'The request body has a "__proto__" key, or a "constructor" key holding a "prototype": ' +
        'refused, though valid JSON.',
    );
  }
  return new AppError('malformed_json', 'The request body is not valid JSON.');
}

/** Route config marking a JSON route whose body may carry a whole image as a data URI. */
export const DATA_URI_BODY = { jsonBody: 'data-uri' } as const;

/**
 * The body limit of a {@link DATA_URI_BODY} route: the largest allowed image in base64 as JSON may
 * spell it at worst (PHP's json_encode writes each "/" as "\/", and a white image's base64 is
 * nearly all "/"; MIME's 76-character lines add an escaped "\r\n" to each), and a kilobyte for the
 * `data:` header and the JSON around it. The image itself is held to MAX_UPLOAD_BYTES as it is
 * decoded, into a file (413 file_too_large), never held whole: this limit only stops the bodies no
 * image under it could be.
 */
export function dataUriBodyLimit(maxUploadBytes: number): number {
  const base64 = Math.ceil(maxUploadBytes / 3) * 4;
  return 2 * base64 + 4 * Math.ceil(base64 / 76) + 1024;
}

/** A JSON body whose bytes are not UTF-8: 400 malformed_json, as a whole. */
export function notUtf8Json(): AppError {
  return new AppError(
    'malformed_json',
    'The request body is not valid UTF-8: JSON text must be UTF-8 (RFC 8259).',
  );
}
