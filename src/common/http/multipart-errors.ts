import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';

/**
 * What an error met while reading a multipart body answers: an AppError (a refusal of the
 * route's own) or a Fastify error (its limits, FST_…; see problem-details.ts) as it is; anything
 * busboy fails with (no boundary or an empty one, a boundary the body never has, a part cut short,
 * a body that ends before its form does) is the client's `400 invalid_multipart`, not a 500.
 */
export function multipartReadError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('FST_')) return error;
  return new AppError('invalid_multipart', 'The multipart body could not be read.');
}

/** What `request.parts()` takes, and `throwFileSizeLimit`, which it reads though its types omit it. */
export type FormOptions = NonNullable<Parameters<FastifyRequest['parts']>[0]> & {
  throwFileSizeLimit?: boolean;
};

/**
 * The form's parts (`request.parts(options)`), each checked: @fastify/multipart hands an error
 * over as a part when it fails its `instanceof Error` (one made in another realm: Node's own
 * `aborted` under Jest's vm context), which the caller would read as a field with no name (a
 * client that half-closed answered 400 validation_failed naming no field). It is thrown instead.
 * A part sent without a name is `400 invalid_multipart`.
 */
export async function* formParts(
  request: FastifyRequest,
  options: FormOptions,
): AsyncGenerator<Multipart> {
  for await (const part of request.parts(options)) {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- an error, of another realm
    if (part.type !== 'file' && part.type !== 'field') throw part;
    if (!part.fieldname) {
      // No `name` in its Content-Disposition: no field to name in the answer (it said "undefined").
      if (part.type === 'file') part.file.resume();
      throw new AppError(
        'invalid_multipart',
        'A part of the form has no name: every part needs one (Content-Disposition: form-data; name="…").',
      );
    }
    yield part;
  }
}
