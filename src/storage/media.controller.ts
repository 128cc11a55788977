import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth/decorators';
import { answerMediaRequest } from './media-delivery';
import { sendMediaAnswer } from './media-reply';
import { LocalStorageProvider } from './providers/local.storage-provider';
import { STORAGE_PROVIDER, type StorageProvider } from './storage-provider';
import { isServableKey } from './storage-keys';

/**
 * Serves locally stored images at /media/<key> through @fastify/send (media-delivery.ts): exact
 * Content-Type, strong ETag and Last-Modified, conditional GET, byte ranges, and the same delivery
 * headers other providers store with the object. Only keys of the shapes the service writes, with
 * an image's extension, are looked up: anything else is 404, even when such a file lies in the
 * storage folder. Other providers serve their objects themselves: here everything is 404.
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
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const answer =
      this.storage instanceof LocalStorageProvider && isServableKey(key)
        ? await answerMediaRequest(this.storage.root, key, request.raw)
        : { kind: 'not_found' as const };
    await sendMediaAnswer(reply, answer, { code: 'media_not_found', detail: 'No such file.' });
  }
}
