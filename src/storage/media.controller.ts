import { Controller, Get, Headers, Inject, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/decorators';
import { AppError } from '../common/errors/app.error';
import {
  IMMUTABLE_CACHE_CONTROL,
  STORAGE_PROVIDER,
  type StorageProvider,
} from './storage-provider';

/** SVG is served as a sandboxed, script-less document, and never sniffed as anything else. */
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/**
 * Serves locally stored images at /media/<key>: exact Content-Type, strong ETag, conditional GET,
 * a year of immutable caching. Keys that are malformed or leave the storage root are 404.
 */
@Public()
@ApiExcludeController()
@Controller('media')
export class MediaController {
  constructor(@Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider) {}

  @Get('*')
  async get(
    @Param('*') key: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const path = key;
    const object = this.storage.read ? await this.storage.read(path) : undefined;
    if (!object) throw new AppError('media_not_found', 'No such file.');
    reply
      .header('etag', object.etag)
      .header('last-modified', object.lastModified.toUTCString())
      .header('cache-control', IMMUTABLE_CACHE_CONTROL)
      .header('x-content-type-options', 'nosniff');
    if (object.contentType === 'image/svg+xml') reply.header('content-security-policy', SVG_CSP);
    if (
      ifNoneMatch &&
      ifNoneMatch.split(',').some((t) => t.trim() === object.etag || t.trim() === '*')
    ) {
      object.stream.destroy();
      await reply.status(304).send();
      return;
    }
    await reply.type(object.contentType).header('content-length', object.size).send(object.stream);
  }
}
