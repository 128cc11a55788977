import { Controller, Get, Headers, Param, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiTransformedImage } from './delivery.openapi';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { append as appendVary } from 'vary';
import { Public } from '../../auth/decorators';
import { untilExpiry } from '../../common/http/until-expiry';
import { sendMediaAnswer } from '../../storage/media-reply';
import { DeliveryService } from './delivery.service';
import { TRANSFORM_ROUTE } from './transform-urls';

/** How long a redirect to storage that makes results itself may be cached. */
const REDIRECT_CACHE_CONTROL = 'public, max-age=3600';

/**
 * A result asked for by preset name (`p_card`): a day, then asked again (a 304 to If-None-Match
 * while unchanged; it has no Last-Modified, see DeliveryService), not a year as immutable, since
 * an operator's change of IMAGE_RENDITIONS changes what the same URL makes. Every other result's
 * URL names its whole transformation.
 */
const PRESET_CACHE_CONTROL = 'public, max-age=86400';

/**
 * `GET /transform/<signature>/<options>/<image id>`: an image at the size and format the URL
 * names (see transform-options.ts), made once and then served from storage with immutable
 * caching (a day for a preset by name), strong ETags, 304 and byte ranges. Public, like /media:
 * the signature is what guards it. In the OpenAPI document for what it answers; clients take its
 * URLs from image responses (`responsive`) rather than build them.
 */
@Public()
@ApiTags('delivery')
@Controller(TRANSFORM_ROUTE)
export class DeliveryController {
  constructor(private readonly delivery: DeliveryService) {}

  // `transformation`, not `options`: generated clients (orval) give their own request options
  // that name, and a path parameter of the same name does not compile.
  @Get(':signature/:transformation/:id')
  @ApiTransformedImage()
  async get(
    @Param('signature') signature: string,
    @Param('transformation') options: string,
    @Param('id') imageId: string,
    @Headers('accept') accept: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const media = { method: request.method, headers: request.headers };
    const result = await this.delivery.answer({ signature, options, imageId, accept, media });
    // Added to what is there: with CORS_ORIGINS, the CORS hook has already said `Vary: Origin`.
    if (result.varies)
      reply.header('Vary', appendVary(String(reply.getHeader('Vary') ?? ''), 'Accept'));
    if (result.kind === 'redirect') {
      const cacheControl = untilExpiry(REDIRECT_CACHE_CONTROL, result.expiresAt);
      await reply.header('Cache-Control', cacheControl).redirect(result.url, 302);
      return;
    }
    let answer = result.answer;
    if (answer.kind === 'file' && (result.byPreset || result.expiresAt)) {
      const policy = result.byPreset
        ? PRESET_CACHE_CONTROL
        : String(answer.headers['Cache-Control'] ?? '');
      const cacheControl = untilExpiry(policy, result.expiresAt);
      answer = { ...answer, headers: { ...answer.headers, 'Cache-Control': cacheControl } };
    }
    await sendMediaAnswer(reply, answer, {
      code: 'image_not_found',
      detail: 'No such image.',
    });
  }
}
