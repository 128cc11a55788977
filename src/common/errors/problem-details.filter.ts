import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { recordOutcome } from '../logging/request-outcome';
import { safeError } from '../logging/safe-error';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem-details';

/**
 * The single place where errors become HTTP responses. Registered globally, it also receives
 * Fastify's own errors (body parsing, unknown routes) through Nest's router error handler.
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
    void reply
      .status(problem.status)
      .type(PROBLEM_CONTENT_TYPE)
      .send({ ...problem.body, request_id: request.id });
  }
}
