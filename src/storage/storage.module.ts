import { join, resolve } from 'node:path';
import {
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EnvironmentVariables, StorageDriver } from '../config/env.validation';
import { LocalStorageProvider } from './local.storage-provider';
import { MediaController } from './media.controller';
import { StorageDeletion } from './entities/storage-deletion.entity';
import { StorageDeletionsService } from './storage-deletions.service';
import { STORAGE_PROVIDER, type StorageProvider } from './storage-provider';

/** The absolute base URL of links the service hands out. */
export function publicBaseUrl(env: EnvironmentVariables): string {
  return env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`;
}

export function localStorageRoot(env: EnvironmentVariables): string {
  return resolve(env.STORAGE_LOCAL_DIR ?? join(env.DATA_DIR, 'media'));
}

/**
 * The provider STORAGE_DRIVER names, configured from the environment (not yet checked). SDKs are
 * loaded only for their driver: the Cloudinary SDK reads (and throws on a malformed)
 * CLOUDINARY_URL as soon as it is loaded, even when another driver is chosen.
 */
export async function createStorageProvider(env: EnvironmentVariables): Promise<StorageProvider> {
  switch (env.STORAGE_DRIVER) {
    case StorageDriver.Local:
      return new LocalStorageProvider(localStorageRoot(env), publicBaseUrl(env));
    case StorageDriver.S3: {
      const { S3StorageProvider } = await import('./s3.storage-provider.js');
      return new S3StorageProvider({
        bucket: env.S3_BUCKET!,
        region: env.S3_REGION,
        endpoint: env.S3_ENDPOINT,
        forcePathStyle: env.S3_FORCE_PATH_STYLE,
        credentials:
          env.S3_ACCESS_KEY_ID && env.S3_SECRET_ACCESS_KEY
            ? { accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY }
            : undefined,
        keyPrefix: env.S3_KEY_PREFIX,
        requestChecksumCalculation: env.S3_REQUEST_CHECKSUM_CALCULATION,
        responseChecksumValidation: env.S3_RESPONSE_CHECKSUM_VALIDATION,
        publicBaseUrl: env.S3_PUBLIC_BASE_URL,
        presignTtlSeconds: env.S3_PRESIGN_TTL_SECONDS,
        timeoutMs: env.STORAGE_TIMEOUT_MS,
      });
    }
    case StorageDriver.Cloudinary: {
      const { CloudinaryStorageProvider, parseCloudinaryUrl } =
        await import('./cloudinary.storage-provider.js');
      return new CloudinaryStorageProvider({
        ...(env.CLOUDINARY_URL
          ? parseCloudinaryUrl(env.CLOUDINARY_URL)
          : {
              cloudName: env.CLOUDINARY_CLOUD_NAME!,
              apiKey: env.CLOUDINARY_API_KEY!,
              apiSecret: env.CLOUDINARY_API_SECRET!,
              settings: {},
            }),
        folder: env.CLOUDINARY_FOLDER,
        timeoutMs: env.STORAGE_TIMEOUT_MS,
      });
    }
  }
}

/** The configured StorageProvider, built once and checked at start-up, under STORAGE_PROVIDER. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([StorageDeletion])],
  controllers: [MediaController],
  providers: [
    StorageDeletionsService,
    {
      provide: STORAGE_PROVIDER,
      inject: [EnvironmentVariables],
      useFactory: (env: EnvironmentVariables): Promise<StorageProvider> =>
        createStorageProvider(env),
    },
  ],
  exports: [STORAGE_PROVIDER, StorageDeletionsService],
})
export class StorageModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly env: EnvironmentVariables,
  ) {}

  /**
   * A missing bucket or bad credentials stop start-up, not the first upload. Checked here rather
   * than in the provider's factory so that the failure comes from `app.init()`, after which the
   * application closes what other modules had opened (a factory's error would leak them).
   */
  async onModuleInit(): Promise<void> {
    try {
      await this.storage.check();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `Storage (STORAGE_DRIVER=${this.env.STORAGE_DRIVER}) is not usable: ${reason}`,
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
 * then inject `@Inject(STORAGE_PROVIDER) storage: StorageProvider` (storage-provider.ts) or
 * `StorageDeletionsService`. Always this constant, never a call of your own to
 * `StorageModule.forRootAsync(...)`: Nest shares a dynamic module between the modules that import it
 * only when it is the same object, and a second call would build a second provider (another
 * connection pool, another start-up check, another deletion retry timer).
 */
export const ConfiguredStorageModule = StorageModule;
