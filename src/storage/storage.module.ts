import { join, resolve } from 'node:path';
import { Global, Module } from '@nestjs/common';
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

/** The configured StorageProvider, built once at start-up, under STORAGE_PROVIDER. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([StorageDeletion])],
  controllers: [MediaController],
  providers: [
    StorageDeletionsService,
    {
      provide: STORAGE_PROVIDER,
      inject: [EnvironmentVariables],
      useFactory: async (env: EnvironmentVariables): Promise<StorageProvider> => {
        switch (env.STORAGE_DRIVER) {
          case StorageDriver.Local: {
            const provider = new LocalStorageProvider(localStorageRoot(env), publicBaseUrl(env));
            await provider.check();
            return provider;
          }
        }
      },
    },
  ],
  exports: [STORAGE_PROVIDER, StorageDeletionsService],
})
export class StorageModule {}
