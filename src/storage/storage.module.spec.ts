import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Global, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { EnvironmentVariables, validateEnv } from '../config/env.validation';
import { JobQueue } from '../jobs/job-queue.service';
import { JobsModule } from '../jobs/jobs.module';
import { LocalStorageProvider } from './providers/local.storage-provider';
import { STORAGE_MODULE_OPTIONS } from './storage.module-definition';
import { ConfiguredStorageModule, StorageModule } from './storage.module';
import { STORAGE_PROVIDER } from './storage-provider';

@Module({
  providers: [{ provide: JobQueue, useValue: { define: jest.fn() } }],
  exports: [JobQueue],
})
class NoJobsModule {}

describe(StorageModule.name, () => {
  let dir: string;
  let env: EnvironmentVariables;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pis-storage-module-'));
    env = validateEnv({
      DATA_DIR: dir,
      STORAGE_LOCAL_DIR: join(dir, 'media'),
      PUBLIC_BASE_URL: 'https://images.example',
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is one provider, checked once and closed once, however many modules import it', async () => {
    @Global()
    @Module({
      providers: [
        { provide: EnvironmentVariables, useValue: env },
        // No database here either: the queued deletions are read only while delivering.
        { provide: DataSource, useValue: {} },
      ],
      exports: [EnvironmentVariables, DataSource],
    })
    class ConfigLikeModule {}
    @Module({ imports: [ConfiguredStorageModule] })
    class ImagesLikeModule {}
    @Module({ imports: [ConfiguredStorageModule] })
    class HealthLikeModule {}

    const check = jest.spyOn(LocalStorageProvider.prototype, 'check');
    const app = await Test.createTestingModule({
      imports: [ConfigLikeModule, ConfiguredStorageModule, ImagesLikeModule, HealthLikeModule],
    })
      // No database here: the job queue only takes the file-deletion queue's definition.
      .overrideModule(JobsModule)
      .useModule(NoJobsModule)
      .compile();
    await app.init();
    const close = jest.spyOn(StorageModule.prototype, 'onApplicationShutdown');

    // Each StorageModule instance checks its provider at start-up: one check, one instance.
    expect(check).toHaveBeenCalledTimes(1);
    expect(app.get(STORAGE_PROVIDER)).toBeInstanceOf(LocalStorageProvider);
    expect(app.get(STORAGE_MODULE_OPTIONS)).toEqual({
      provider: {
        driver: 'local',
        root: join(dir, 'media'),
        publicBaseUrl: 'https://images.example',
      },
      timeoutMs: 30_000,
    });

    await app.close();
    expect(close).toHaveBeenCalledTimes(1);
  });
});
