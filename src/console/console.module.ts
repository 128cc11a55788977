import { Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ConfiguredStorageModule } from '../storage/storage.module';
import { consoleConfigProvider } from './console.config';
import { ConsoleController } from './console.controller';
import { ConsoleSite } from './console-site.service';

/**
 * The gallery console (console/ at the repository's root, built by Vite into dist/console),
 * served at /console, outside the API prefix. @fastify/static sends its files (ETag,
 * Last-Modified, conditional requests); the routes are the controller's, so that they pass the
 * application's hooks like any other route.
 */
@Module({
  imports: [ConfiguredStorageModule],
  controllers: [ConsoleController],
  providers: [ConsoleSite, consoleConfigProvider],
})
export class ConsoleModule implements OnModuleInit {
  constructor(private readonly http: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.http.httpAdapter.getInstance<FastifyInstance>();
    // reply.sendFile only: the controller owns the routes (serve: false adds none). Queued for
    // Fastify's start, not awaited: awaited here, it loaded Fastify's plugins ahead of what is
    // registered after the modules' init, and malformed JSON bodies answered 500, not 400.
    void fastify.register(fastifyStatic, { serve: false });
  }
}
