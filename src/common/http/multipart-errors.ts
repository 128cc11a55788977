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
