import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/decorators';
import { ConsoleSite } from './console-site.service';

/**
 * The gallery console at /console: a page that logs in through the API's login route and calls
 * the API as any client does. Public: the page holds no data; the API checks every call.
 */
@Public()
@ApiExcludeController()
@Controller('console')
export class ConsoleController {
  constructor(private readonly site: ConsoleSite) {}

  @Get()
  page(@Res() reply: FastifyReply): Promise<void> {
    return this.site.send(reply, '');
  }

  // Fastify's wildcard (find-my-way syntax), as /media has it.
  @Get('*')
  file(@Param('*') path: string, @Res() reply: FastifyReply): Promise<void> {
    return this.site.send(reply, path);
  }
}
