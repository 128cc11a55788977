import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { AppError } from '../common/errors/app.error';
import type { ErrorCode } from '../common/errors/error-codes';
import type { MediaAnswer } from './media-answer';

/**
 * Writes a {@link MediaAnswer} as the reply: the file (200, 206, 304), or a problem: a range past
 * the end (416, the length in Content-Range), a failed precondition, or a missing file, whose code
 * the route chooses (a file of /media, an image of a transform URL).
 */
export async function sendMediaAnswer(
  reply: FastifyReply,
  answer: MediaAnswer,
  notFound: { code: ErrorCode; detail: string },
): Promise<void> {
  switch (answer.kind) {
    case 'file':
      reply.status(answer.status).headers(answer.headers);
      // A 304 has no body. To HEAD, sent as none, Fastify's HEAD route writes `Content-Length:
      // 0`, which a HEAD may only say of an empty file (RFC 9110 8.6): an empty stream keeps it out.
      await reply.send(
        answer.body ?? (reply.request.method === 'HEAD' ? Readable.from([]) : undefined),
      );
      return;
    case 'range_not_satisfiable':
      throw new AppError(
        'range_not_satisfiable',
        'The range asked for starts past the end of the file: its length is in Content-Range.',
        [],
        { 'Content-Range': answer.contentRange },
      );
    case 'precondition_failed':
      throw new AppError('precondition_failed', 'The file does not match the precondition.');
    case 'not_found':
      throw new AppError(notFound.code, notFound.detail);
  }
}
