import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppError } from '../errors/app.error';

/**
 * Closing waits for in-flight requests, but a keep-alive socket whose request finishes during the
 * close would then idle until its keep-alive timeout. Responses sent while closing carry
 * `Connection: close`, so each socket ends with its last response and shutdown is prompt.
 *
 * A request that arrives while closing (on a connection already busy, or pipelined) is 503
 * service_unavailable with `Retry-After`, problem+json as every answer: Fastify's own (its
 * `return503OnClosing`, turned off in app.factory.ts) was a bare JSON of its own shape, with
 * no request id or security headers.
 */
export function closeConnectionsWhenClosing(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onRequest', (_request, _reply, done) => {
    if (!closing) return done();
    done(
      new AppError(
        'service_unavailable',
        'The service is shutting down: send the request again.',
        [],
        { 'Retry-After': '1' },
      ),
    );
  });
  fastify.addHook('onSend', (_request, reply, _payload, done) => {
    if (closing) reply.header('connection', 'close');
    done();
  });
}
