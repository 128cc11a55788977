import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { AuthModule } from '../auth/auth.module';
import { ImagesModule } from '../images/images.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { JobsModule } from '../jobs/jobs.module';
import { registerCsvBody } from './csv-body.parser';
import { registerImportBodyEncoding } from './import-body-encoding';
import { ImportBodyPipe } from './import-body.pipe';
import { ImportWorker } from './import-worker.service';
import { ImportsController } from './imports.controller';
import { IMPORTS_CONFIG, importsConfigProvider, type ImportsConfig } from './imports.config';
import { ImportsRepository } from './imports.repository';
import { ImportsService } from './imports.service';

/**
 * Bulk imports (`/api/v1/imports`): rows of image URLs received as JSON or a streamed CSV, stored
 * in `import_rows` and worked as jobs (ImportWorker) through ImagesService, so that every row
 * goes the way of a single upload: the same fetcher, checks, gallery rules and storage.
 */
@Module({
  // AuthModule: PrincipalService, with which the worker checks each row's poster again.
  imports: [AuthModule, ImagesModule, JobsModule, IdempotencyModule],
  controllers: [ImportsController],
  providers: [
    importsConfigProvider,
    ImportsService,
    ImportsRepository,
    ImportWorker,
    ImportBodyPipe,
  ],
})
export class ImportsModule implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(IMPORTS_CONFIG) private readonly config: ImportsConfig,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return;
    registerCsvBody(fastify);
    // After the pre-body authentication's preParsing hook (installed before the modules start).
    registerImportBodyEncoding(fastify, this.config.BULK_IMPORT_MAX_BYTES);
  }
}
