import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * Closing waits for in-flight requests, but a keep-alive socket whose request finishes during the
 * close would then idle until its keep-alive timeout. Responses sent while closing carry
 * `Connection: close`, so each socket ends with its last response and shutdown is prompt.
 */
export function closeConnectionsWhenClosing(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onSend', (_request, reply, _payload, done) => {
    if (closing) reply.header('connection', 'close');
    done();
  });
}
