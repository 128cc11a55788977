import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import { RequestSpool } from './upload-spool';

/**
 * Around every route handler, its pipes included (where multipart uploads are spooled): the
 * request's temporary files are removed as soon as the handler returns or throws, before the
 * response is sent, and never while it still uses them (see RequestSpool).
 */
@Injectable()
export class UploadSpoolInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    return defer(() =>
      RequestSpool.whileHandling(request, () =>
        lastValueFrom(next.handle(), { defaultValue: undefined }),
      ),
    );
  }
}

/**
 * Every request's temporary files are removed when it is over (see RequestSpool): around each
 * handler, and, for a response sent without the handler (a refused body), as it is sent.
 */
export function registerUploadSpool(app: NestFastifyApplication): void {
  app.useGlobalInterceptors(new UploadSpoolInterceptor());
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onSend', async (request) => {
      await RequestSpool.releaseUnlessHandling(request);
    });
}
