import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { PROBLEM_CONTENT_TYPE } from '../common/errors/problem-details';
import { recordOutcome } from '../common/logging/request-outcome';
import { IdempotentReplay } from './idempotent-attempt';

/**
 * Sends the answer recorded for a retry's Idempotency-Key, as it was: its status, its body byte
 * for byte, and its Content-Type, Location and ETag. (An exception filter, because an interceptor
 * cannot change the status Nest sends a route's value with.)
 */
@Catch(IdempotentReplay)
export class IdempotentReplayFilter implements ExceptionFilter<IdempotentReplay> {
  catch(replay: IdempotentReplay, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, headers, body } = replay.response;
    // A refusal replayed is logged with its code, as it was the first time.
    const code = problemCode(headers['content-type'], body);
    if (code) recordOutcome(reply.raw, { code, expected: true });
    if (reply.sent) return;
    void reply.status(status).headers(headers).send(body);
  }
}

function problemCode(contentType: string | undefined, body: string): string | undefined {
  if (!contentType?.startsWith(PROBLEM_CONTENT_TYPE)) return undefined;
  try {
    const { code } = JSON.parse(body) as { code?: unknown };
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
