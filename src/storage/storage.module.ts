import {
  Inject,
  Module,
  Optional,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module';
import { Metrics } from '../metrics/metrics.service';
import { DeletedKeys } from './deleted-keys.service';
import { FileDeletionsRepository } from './file-deletions.repository';
import { MediaRoute } from './media.route';
import { IMAGE_STORAGE, type ImageStorage } from './image-storage';
import { deadlineStorage } from './providers/deadline.storage-provider';
import { measuredStorage } from './providers/measured.storage-provider';
import {
  openStorage,
  type OpenedStorage,
  type ProviderWrapper,
} from './providers/storage-provider.factory';
import {
  STORAGE_CONFIG,
  storageConfigProvider,
  storageOptionsFromEnv,
  type StorageConfig,
} from './storage.config';
import {
  ConfigurableStorageModule,
  STORAGE_CHECKED_AT_START,
  STORAGE_MODULE_OPTIONS,
  STORAGE_PROVIDER_WRAPPER,
  type StorageModuleOptions,
} from './storage.module-definition';
import { StorageDeletionsService } from './storage-deletions.service';
import { STORAGE_PROVIDER, type StorageProvider } from './storage-provider';

/**
 * The provider the settings name, configured but not checked, outside any module (tests and tools
 * that need a second provider beside the application's).
 */
export function createStorageProvider(config: StorageConfig): Promise<StorageProvider> {
  return openStorage(storageOptionsFromEnv(config).provider).then(({ provider }) => provider);
}

/** The provider and its image strategy, opened once (both tokens below are read from it). */
const OPENED_STORAGE = Symbol('OPENED_STORAGE');

/**
 * Storage: the configured StorageProvider under STORAGE_PROVIDER, built once and checked at
 * start-up; the way it keeps images under IMAGE_STORAGE (image-storage.ts); the queue of file
 * deletions (storage-deletions.service.ts); and /media for local files. Configured with `forRootAsync` (plain
 * StorageModuleOptions); not global, so the modules that use storage say so by importing
 * {@link ConfiguredStorageModule}.
 */
@Module({
  imports: [JobsModule],
  providers: [
    MediaRoute,
    StorageDeletionsService,
    FileDeletionsRepository,
    DeletedKeys,
    {
      provide: OPENED_STORAGE,
      inject: [
        STORAGE_MODULE_OPTIONS,
        { token: Metrics, optional: true },
        { token: STORAGE_PROVIDER_WRAPPER, optional: true },
      ],
      useFactory: (
        options: StorageModuleOptions,
        metrics?: Metrics,
        wrapper?: ProviderWrapper,
      ): Promise<OpenedStorage> =>
        openStorage(options.provider, (provider) => {
          // STORAGE_TIMEOUT_MS on every operation, around what a test's wrapper returns (its
          // faults meet the deadline as a stalled storage would), then every operation timed
          // (storage_operation_duration_seconds) where the application keeps metrics.
          const bounded = deadlineStorage(
            wrapper ? wrapper(provider) : provider,
            options.timeoutMs,
          );
          return metrics ? measuredStorage(bounded, metrics) : bounded;
        }),
    },
    {
      provide: STORAGE_PROVIDER,
      inject: [OPENED_STORAGE],
      useFactory: (opened: OpenedStorage): StorageProvider => opened.provider,
    },
    {
      provide: IMAGE_STORAGE,
      inject: [OPENED_STORAGE],
      useFactory: (opened: OpenedStorage): ImageStorage => opened.images,
    },
  ],
  exports: [STORAGE_PROVIDER, IMAGE_STORAGE, StorageDeletionsService, DeletedKeys],
})
export class StorageModule
  extends ConfigurableStorageModule
  implements OnModuleInit, OnApplicationShutdown
{
  constructor(
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    @Inject(STORAGE_MODULE_OPTIONS) private readonly options: StorageModuleOptions,
    @Optional()
    @Inject(STORAGE_CHECKED_AT_START)
    private readonly checkedAtStart?: boolean,
  ) {
    super();
  }

  /**
   * A missing bucket or bad credentials stop start-up, not the first upload. Checked here rather
   * than in the provider's factory so that the failure comes from `app.init()`, after which the
   * application closes what other modules had opened (a factory's error would leak them). Not
   * where the process only queues storage work ({@link storageUncheckedAtStart}).
   */
  async onModuleInit(): Promise<void> {
    if (this.checkedAtStart === false) return;
    try {
      await this.storage.check();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `Storage (STORAGE_DRIVER=${this.options.provider.driver}) is not usable: ${reason}`,
        { cause: error },
      );
    }
  }

  onApplicationShutdown(): void {
    this.storage.close?.();
  }
}

/**
 * How a module uses storage: import this one configured instance,
 *
 *   import { ConfiguredStorageModule } from '../storage/storage.module';
 *   @Module({ imports: [ConfiguredStorageModule], ... })
 *
 * then inject `@Inject(IMAGE_STORAGE) images: ImageStorage` (image-storage.ts: storing images and
 * their URLs), `@Inject(STORAGE_PROVIDER) storage: StorageProvider` (storage-provider.ts: objects by
 * key) or `StorageDeletionsService`. Always this constant, never a call of your own to
 * `StorageModule.forRootAsync(...)`: Nest shares a dynamic module between the modules that import it
 * only when it is the same object, and a second call would build a second provider (another
 * connection pool, another start-up check, the file-deletion queue defined twice). Its options come from
 * the application's settings (storage.config.ts).
 */
export const ConfiguredStorageModule: DynamicModule = StorageModule.forRootAsync({
  inject: [STORAGE_CONFIG],
  provideInjectionTokensFrom: [storageConfigProvider],
  useFactory: storageOptionsFromEnv,
});

/** Holds {@link STORAGE_CHECKED_AT_START}, for StorageModule to find. */
@Module({})
class StorageStartCheckModule {}

/**
 * A module that tells StorageModule not to check the storage at start-up, global so that it sees
 * it wherever it is imported: for a process that queues storage work and does none (the CLI's
 * `delete-organization`), which a storage that is down must not stop.
 */
export function storageUncheckedAtStart(): DynamicModule {
  return {
    module: StorageStartCheckModule,
    global: true,
    providers: [{ provide: STORAGE_CHECKED_AT_START, useValue: false }],
    exports: [STORAGE_CHECKED_AT_START],
  };
}

/** Holds a {@link STORAGE_PROVIDER_WRAPPER}, for StorageModule to find (see storageWrapping). */
@Module({})
class StorageWrapperModule {}

/**
 * A module providing `wrap` as the STORAGE_PROVIDER_WRAPPER, global so that StorageModule sees it
 * wherever it is imported. Only tests mount it (createApp's `wrapStorage`).
 */
export function storageWrapping(wrap: ProviderWrapper): DynamicModule {
  return {
    module: StorageWrapperModule,
    global: true,
    providers: [{ provide: STORAGE_PROVIDER_WRAPPER, useValue: wrap }],
    exports: [STORAGE_PROVIDER_WRAPPER],
  };
}
