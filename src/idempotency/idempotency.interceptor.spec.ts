import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { lastValueFrom, of } from 'rxjs';
import { AppError } from '../common/errors/app.error';
import type { IdempotencyService } from './idempotency.service';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { IdempotentAttempt } from './idempotent-attempt';

/**
 * The interceptor's guard for a parsed body the Idempotency-Key hook did not hash. No request
 * reaches it through HTTP today (the hook takes every Content-Type Fastify parses as JSON), so
 * the service is a stand-in that opens an attempt: the guard is for the next such mismatch.
 */
describe(IdempotencyInterceptor.name, () => {
  const attempt = new IdempotentAttempt({ organizationId: 'o', key: 'k' } as never, 'POST', '/x');
  const admitted: unknown[] = [];
  const service = {
    begin: () => attempt,
    admit: (_: unknown, digest: unknown) => admitted.push(digest),
  } as unknown as IdempotencyService;

  function run(request: object): { result: Promise<unknown>; handled: () => boolean } {
    let handled = false;
    const context = {
      switchToHttp: () => ({ getRequest: () => ({ user: {}, raw: {}, headers: {}, ...request }) }),
      getHandler: () => run,
    } as unknown as ExecutionContext;
    const next: CallHandler = {
      handle: () => {
        handled = true;
        return of('done');
      },
    };
    const observable = new IdempotencyInterceptor(service, new Reflector()).intercept(
      context,
      next,
    );
    return { result: lastValueFrom(observable), handled: () => handled };
  }

  it('refuses a parsed body with a key but no digest (415), before the work', async () => {
    const { result, handled } = run({
      body: { name: 'x' },
      headers: { 'content-type': 'application/x-json-ish' },
    });
    await expect(result).rejects.toMatchObject({ code: 'unsupported_media_type' });
    await expect(result).rejects.toBeInstanceOf(AppError);
    expect(handled()).toBe(false);
  });

  it('lets a body left to the pipes through: unread (multipart) or a stream (CSV)', async () => {
    for (const body of [undefined, { pipe: () => undefined }]) {
      const { result, handled } = run({ body });
      await expect(result).resolves.toBe('done');
      expect(handled()).toBe(true);
    }
    expect(admitted).toEqual([]);
  });
});
