import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';
import { PROBLEM_CONTENT_TYPE, toProblem, type Problem } from '../errors/problem-details';
import { REQUEST_ID_HEADER } from '../logging/request-id';
import { API_CSP, securityHeaders } from './security-headers';

/**
 * The longest path parameter the router accepts, in UTF-16 units once decoded (stated so it can be
 * told): an external id of 255 characters is up to 510 of them (Fastify's default, 100, is less).
 */
export const MAX_PARAM_LENGTH = 512;

/**
 * What the router's own refusals mean to a client. Never the raw URL: Fastify's messages quote
 * it, and an answer must not echo what a hostile client sent.
 */
export function frameworkProblem(error: FastifyError): Problem {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return toProblem(
        new AppError('malformed_url', 'The URL path is not valid percent-encoding.', [
          { field: 'path', message: 'contains an invalid percent-encoded sequence' },
        ]),
      );
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return toProblem(
        new AppError(
          'malformed_url',
          `A path parameter is longer than ${MAX_PARAM_LENGTH} characters.`,
          [
            {
              field: 'path',
              message: `has a parameter longer than ${MAX_PARAM_LENGTH} characters`,
            },
          ],
        ),
      );
    default:
      // FST_ERR_ASYNC_CONSTRAINT and whatever a later Fastify adds: the generic mapping.
      return toProblem(error);
  }
}

/**
 * Fastify's `frameworkErrors`: errors the router meets before a request has a route (a malformed
 * percent-encoding, an over-long path parameter). No hook runs for them, so this answer carries
 * itself what hooks add to every other one: the request id, the security headers, problem+json.
 */
export function answerFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  try {
    securityHeaders(request.raw, reply.raw, () => undefined);
  } catch {
    // A throw here would escape the router and end the process; answer without them instead.
  }
  const { status, body } = frameworkProblem(error);
  void reply
    .status(status)
    .header(REQUEST_ID_HEADER, request.id)
    .header('content-security-policy', API_CSP)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...body, request_id: request.id });
}
