import { Readable } from 'node:stream';
import { Controller, Get, Headers, Inject, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/decorators';
import { AppError } from '../common/errors/app.error';
import { deliveryHeaders, STORAGE_PROVIDER, type StorageProvider } from './storage-provider';
import { isServableKey } from './storage-keys';

/**
 * The first `size` bytes of `source`, ending with the last of them. A file stream finds its end only
 * by one more read after the last byte: a client that has all Content-Length bytes may close the
 * connection first, and the response, never ended, was logged as "request aborted".
 */
async function* firstBytes(source: Readable, size: number): AsyncGenerator<Buffer> {
  if (size === 0) {
    source.destroy();
    return;
  }
  let left = size;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    const part = chunk.subarray(0, left);
    left -= part.length;
    yield part;
    // Leaving the loop destroys the source.
    if (left === 0) return;
  }
}

/**
 * Serves locally stored images at /media/<key>: exact Content-Type, strong ETag, conditional GET,
 * and the same delivery headers other providers store with the object. Only keys of the shapes
 * the service writes, with an image's extension, are looked up: anything else is 404, even when
 * such a file lies in the storage folder.
 */
@Public()
@ApiExcludeController()
@Controller('media')
export class MediaController {
  constructor(@Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider) {}

  // Fastify's wildcard (find-my-way syntax): path-to-regexp's `*path` is not a route it accepts.
  @Get('*')
  async get(
    @Param('*') key: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const object =
      this.storage.read && isServableKey(key) ? await this.storage.read(key) : undefined;
    if (!object) throw new AppError('media_not_found', 'No such file.');
    const delivery = deliveryHeaders(object.contentType);
    reply
      .header('etag', object.etag)
      .header('last-modified', object.lastModified.toUTCString())
      .header('cache-control', delivery.cacheControl)
      .header('x-content-type-options', 'nosniff');
    if (delivery.contentDisposition)
      reply.header('content-disposition', delivery.contentDisposition);
    if (delivery.contentSecurityPolicy) {
      reply.header('content-security-policy', delivery.contentSecurityPolicy);
    }
    if (
      ifNoneMatch &&
      ifNoneMatch.split(',').some((t) => t.trim() === object.etag || t.trim() === '*')
    ) {
      object.stream.destroy();
      await reply.status(304).send();
      return;
    }
    await reply
      .type(object.contentType)
      .header('content-length', object.size)
      .send(Readable.from(firstBytes(object.stream, object.size), { objectMode: false }));
  }
}
