import {
  createParamDecorator,
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
  type PipeTransform,
  type Type,
} from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest, preParsingHookHandler } from 'fastify';
import type { Observable } from 'rxjs';
import { AppError } from '../errors/app.error';
import { whileAnswered } from './client-gone';
import { isMediaType } from './media-type';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's body can only be multipart/form-data (see {@link MULTIPART_BODY_ONLY}). */
    multipartBodyOnly?: boolean;
  }
}

/**
 * Which routes take a multipart body. @fastify/multipart's content-type parser is the whole
 * server's: it lets a `multipart/form-data` request through to any route, unread, with no body.
 * A JSON route then saw no body at all: a PATCH whose every field is optional was answered 200, an
 * empty update. A route reads multipart through {@link MultipartRequest}, which marks it; every
 * other route refuses a multipart request with 415 unsupported_media_type, as it refuses any type
 * it does not take, and its body is never read.
 */
const TAKES_MULTIPART = 'takes-multipart';

type PipeArgument = Type<PipeTransform> | PipeTransform;

/** The raw request, with its `clientGone` signal (see whileAnswered). */
const rawRequest = createParamDecorator((_: unknown, context: ExecutionContext): FastifyRequest => {
  const http = context.switchToHttp();
  const request = http.getRequest<FastifyRequest>();
  request.clientGone ??= whileAnswered(request, http.getResponse<FastifyReply>());
  return request;
});

/**
 * What a route's multipart body may announce before it is refused unread: `files` files of
 * MAX_UPLOAD_BYTES each (or of the route's own `maxFileBytes` where it is lower: the back-office
 * uploader's 15 MiB) and {@link MULTIPART_OVERHEAD_BYTES}, or, for a route whose pipe bounds the
 * body itself by another limit (a bulk import's CSV, within BULK_IMPORT_MAX_BYTES), `'pipe'`.
 */
export type MultipartBound = { files: number; maxFileBytes?: number } | 'pipe';

/**
 * `@MultipartRequest(SomePipe)`: the raw request, for a pipe that reads its body as it streams in
 * (a multipart form, or whatever else the pipe takes); the route takes `multipart/form-data`, a
 * form of one file within MAX_UPLOAD_BYTES.
 */
export function MultipartRequest(...pipes: PipeArgument[]): ParameterDecorator {
  return MultipartRequestOf({ files: 1 }, ...pipes);
}

/** `@MultipartRequest`, for a form bounded otherwise than by one upload's file (see MultipartBound). */
export function MultipartRequestOf(
  bound: MultipartBound,
  ...pipes: PipeArgument[]
): ParameterDecorator {
  const parameter = rawRequest(...pipes);
  return (target, key, index) => {
    if (key !== undefined) {
      const handler: unknown = (target as Record<string | symbol, unknown>)[key];
      if (typeof handler === 'function') Reflect.defineMetadata(TAKES_MULTIPART, bound, handler);
    }
    parameter(target, key, index);
  };
}

/**
 * A multipart text field's value at most: the longest field any route takes (5,000 characters)
 * in UTF-8 of any script (4 bytes a character at most), so that the field's own limit, counted in
 * characters, is the one a client meets. A longer value is refused, never cut.
 */
export const MULTIPART_FIELD_BYTES = 24 * 1024;

/**
 * What a multipart upload may hold besides its file, at most: 12 parts (the form's limit), each
 * with up to 16 KiB of part headers (busboy's own limit), 10 of them text values of
 * {@link MULTIPART_FIELD_BYTES}, and boundaries.
 */
export const MULTIPART_OVERHEAD_BYTES = 512 * 1024;

/** The 415 of a multipart request to a route that takes none (also /media's, a Fastify route). */
export function multipartNotTaken(): AppError {
  return new AppError('unsupported_media_type', 'This route does not take multipart/form-data.');
}

/** The 415 of a request to an upload route whose body is not multipart/form-data. */
export function multipartRequired(): AppError {
  return new AppError('unsupported_media_type', 'Send the image as multipart/form-data.');
}

/**
 * Route config (images/intake: `@ImageInMultipartOnly()`) of a route that takes a multipart body and
 * nothing else (an upload of the main API or of a compatible API; not the gallery's, which also
 * takes JSON): a request with another body, or none, is refused by
 * {@link refuseBodiesNotMultipart}.
 */
export const MULTIPART_BODY_ONLY = { multipartBodyOnly: true } as const;

/**
 * A request to a {@link MULTIPART_BODY_ONLY} route whose Content-Type is not multipart/form-data
 * is refused 415 unsupported_media_type in a preParsing hook, once its caller is admitted (the
 * pre-body authentication's hook comes first: a caller without access is still 401 or 403) and
 * before its body is read: a JSON body was read whole and parsed (400 malformed_json for one that
 * is not JSON, 413 for one over JSON_BODY_LIMIT_BYTES) only for the route to refuse it 415.
 *
 * A hook of those routes alone (added to each in an `onRoute` hook), not a global one that every
 * request of every route ran to do nothing. A route's hooks run after the global ones: after the
 * refusal of a Content-Encoding (415 too), and after the stages that only prepare to read a JSON
 * body: the `100 Continue` sent on its first read, and its Idempotency-Key digest, whose pipe
 * first reads a tick after this refusal has answered (the order of ticks, as for a JSON body
 * over its limit: host-and-expect.ts; test/e2e/multipart-only-routes holds it).
 */
export function refuseBodiesNotMultipart(fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route) => {
    if (route.config?.multipartBodyOnly !== true) return;
    route.preParsing = [route.preParsing ?? []].flat().concat(refuseIfNotMultipart);
  });
}

const refuseIfNotMultipart: preParsingHookHandler = (request, _reply, payload, done) => {
  if (isMediaType(request.headers['content-type'], 'multipart/form-data')) {
    return done(null, payload);
  }
  done(multipartRequired(), payload);
};

/**
 * Global: a multipart request to a route that does not take one is 415, its body unread; one to a
 * route that does, announcing more bytes than its form can be (its files within `maxFileBytes`
 * each, and {@link MULTIPART_OVERHEAD_BYTES}), is 413 `file_too_large` at once, unread, rather
 * than read until a file crosses the limit (or its client gives up sending gigabytes it
 * announced). A route whose pipe bounds its body (`'pipe'`) is left to it: a bulk import's CSV
 * is not an upload, and may be larger than one.
 */
@Injectable()
export class MultipartRoutesInterceptor implements NestInterceptor {
  constructor(private readonly maxFileBytes: number) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const request = context.switchToHttp().getRequest<FastifyRequest>();
      const bound = Reflect.getMetadata(TAKES_MULTIPART, context.getHandler()) as
        MultipartBound | undefined;
      if (bound === undefined && request.isMultipart()) throw multipartNotTaken();
      if (bound !== undefined && bound !== 'pipe' && request.isMultipart()) {
        this.refuseIfTooLarge(request, bound.files, bound.maxFileBytes);
      }
    }
    return next.handle();
  }

  private refuseIfTooLarge(
    request: FastifyRequest,
    files: number,
    routeMaxFileBytes?: number,
  ): void {
    const maxFileBytes = Math.min(this.maxFileBytes, routeMaxFileBytes ?? this.maxFileBytes);
    const announced = Number(request.headers['content-length']);
    if (!(announced > files * maxFileBytes + MULTIPART_OVERHEAD_BYTES)) return;
    const each = files === 1 ? 'a file' : `${files} files`;
    throw new AppError(
      'file_too_large',
      `The request announces ${announced} bytes: more than an upload can be, with ${each} of at ` +
        `most ${maxFileBytes} bytes.`,
      [{ field: 'image', message: 'is larger than the upload limit' }],
      { Connection: 'close' },
    );
  }
}
