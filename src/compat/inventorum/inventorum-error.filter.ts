import { Catch, type ArgumentsHost } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemDetailsFilter } from '../../common/errors/problem-details.filter';
import { toProblem } from '../../common/errors/problem-details';
import { recordOutcome } from '../../common/logging/request-outcome';
import { inventorumError } from './inventorum-error';
import { imageFieldFor } from './inventorum-form';
import { formNotesOf } from './inventorum-upload.pipe';

/**
 * Inventorum's routes answer the errors about the request they read (400, 413, 415) in
 * Inventorum's envelope (see inventorumError); everything else is left to the service's
 * problem+json filter.
 */
@Catch()
export class InventorumErrorFilter extends ProblemDetailsFilter {
  override catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = toProblem(exception);
    const body = inventorumError(problem, {
      imageField: imageFieldFor(request.headers['x-api-version']),
      imageSentAsText: formNotesOf(request).imageSentAsText,
    });
    if (!body) return super.catch(exception, host);
    recordOutcome(reply.raw, { code: problem.body.code, expected: !problem.unexpected });
    if (reply.sent) return;
    for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
    void reply.status(problem.status).type('application/json; charset=utf-8').send(body);
  }
}
