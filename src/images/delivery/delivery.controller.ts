import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiTransformedImage } from './delivery.openapi';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../auth/decorators';
import { DeliveryService } from './delivery.service';
import { replyTransform } from './transform-reply';
import { TRANSFORM_ROUTE } from './transform-urls';

/**
 * `GET /transform/<signature>/<options>/<image id>`: an image at the size and format the URL
 * names (see transform-options.ts), made once and then served from storage with immutable
 * caching (a day for a preset by name), strong ETags, 304 and byte ranges. Public, like /media:
 * the signature is what guards it. In the OpenAPI document for what it answers; clients take its
 * URLs from image responses (`responsive`) rather than build them.
 *
 * Its handler is served by TransformRoute, a plain Fastify handler in its place, through the same
 * replyTransform: the controller declares the route and its document.
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
    @Param('transformation') transformation: string,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await replyTransform(this.delivery, { signature, transformation, id }, request, reply);
  }
}
