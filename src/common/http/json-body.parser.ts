import type { FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError } from '../errors/app.error';

/**
 * The JSON body parser: secure-json-parse (rejects `__proto__` and `constructor.prototype`
 * poisoning) and a stable `malformed_json` problem instead of a parser's message.
 */
export function parseJsonBody(
  _request: FastifyRequest,
  body: Buffer | string,
  done: (err: Error | null, body?: unknown) => void,
): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') {
    done(new AppError('malformed_json', 'The request body is empty but Content-Type says JSON.'));
    return;
  }
  try {
    done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
  } catch {
    done(new AppError('malformed_json', 'The request body is not valid JSON.'));
  }
}
