import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { recordOutcome } from '../logging/request-outcome';
import { safeError } from '../logging/safe-error';
import { PROBLEM_CONTENT_TYPE, toProblem, type Problem } from './problem-details';

/** An error answered in a route's own shape: its body and Content-Type (the status is the problem's). */
export interface OwnErrorShape {
  body: unknown;
  contentType: string;
}

/** A route's own shape for a problem, or undefined to answer it as problem+json. */
export type ErrorShaper = (problem: Problem, request: FastifyRequest) => OwnErrorShape | undefined;

/**
 * Route config (`@RouteConfig(errorsShapedBy(shaper))`) of a route whose clients expect errors in
 * another shape than problem+json (a compatible API's). In the route's config rather than a
 * filter on its controller, so that what is refused before the controller is reached (a body
 * Fastify would not parse, too large a body, a hook's refusal) is answered in the same shape.
 */
export function errorsShapedBy(shaper: ErrorShaper): { errorShaper: ErrorShaper } {
  return { errorShaper: shaper };
}

function errorShaperOf(request: FastifyRequest): ErrorShaper | undefined {
  // No route matched (a 404, a router refusal): no config.
  const config = request.routeOptions?.config as { errorShaper?: ErrorShaper } | undefined;
  return config?.errorShaper;
}

/**
 * The single place where errors become HTTP responses. Registered globally, it also receives
 * Fastify's own errors (body parsing, unknown routes) through Nest's router error handler. A
 * route may answer them in its own shape instead of problem+json (see errorsShapedBy).
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = toProblem(exception);
    // The request's own log line says the rest: a warning with the code for a foreseen outcome
    // (4xx, 503 server_busy), no stack; only a fault of the service is logged here, with its stack.
    recordOutcome(reply.raw, { code: problem.body.code, expected: !problem.unexpected });

    if (problem.unexpected) {
      this.logger.error(
        {
          err: safeError(exception),
          request_id: request.id,
          method: request.method,
          route: request.routeOptions?.url,
        },
        'Request failed with an unexpected error',
      );
    }
    if (reply.sent) return;
    for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
    const own = errorShaperOf(request)?.(problem, request);
    if (own) {
      void reply.status(problem.status).type(own.contentType).send(own.body);
      return;
    }
    void reply
      .status(problem.status)
      .type(PROBLEM_CONTENT_TYPE)
      .send({ ...problem.body, request_id: request.id });
  }
}
