import { runInNewContext } from 'node:vm';
import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';
import { formParts, multipartReadError } from './multipart-errors';

describe(formParts.name, () => {
  /** A request whose parts() yields `values` as @fastify/multipart's iterator would. */
  const requestYielding = (values: unknown[]) =>
    ({
      async *parts() {
        for (const value of values) yield value as Multipart;
      },
    }) as unknown as FastifyRequest;

  it('yields the parts, and throws an error handed over as a part (one of another realm)', async () => {
    // The plugin resolves with what fails its `instanceof Error`: Node's own errors under Jest's
    // vm context, made here in a new context.
    const foreign = runInNewContext(
      "Object.assign(new Error('aborted'), { code: 'ECONNRESET' })",
    ) as Error;
    expect(foreign instanceof Error).toBe(false);
    const field = { type: 'field', fieldname: 'title', value: 'Front' };
    const seen: unknown[] = [];
    const reading = (async () => {
      for await (const part of formParts(requestYielding([field, foreign]), {})) seen.push(part);
    })();
    const error = await reading.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(seen).toEqual([field]);
    expect(error).toBe(foreign);
    // As any error met reading a form: the client's 400 invalid_multipart.
    expect(multipartReadError(error)).toMatchObject({ code: 'invalid_multipart' });
    expect(multipartReadError(error)).toBeInstanceOf(AppError);
  });
});
