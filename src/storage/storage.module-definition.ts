import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { CloudinaryStorageOptions } from './providers/cloudinary.storage-provider';
import type { LocalStorageOptions } from './providers/local.storage-provider';
import type { S3StorageOptions } from './providers/s3.storage-provider';

/** Which provider holds the bytes, with that provider's settings. */
export type StorageProviderOptions =
  | ({ driver: 'local' } & LocalStorageOptions)
  | ({ driver: 's3' } & S3StorageOptions)
  | ({ driver: 'cloudinary' } & CloudinaryStorageOptions);

/**
 * What StorageModule is configured with: plain values, whatever their source (the application
 * builds them from its environment in storage.config.ts), so the module reads no setting itself.
 */
export interface StorageModuleOptions {
  provider: StorageProviderOptions;
  /** How long one storage operation may take, whatever the provider (STORAGE_TIMEOUT_MS). */
  timeoutMs: number;
}

/**
 * Optional: a function the configured provider is passed through before anything uses it, inside
 * the deadline and the metrics (so both apply to what it returns). Nothing provides it in
 * production; the end-to-end tests wrap the real provider with faults this way
 * (CreateAppOptions.wrapStorage).
 */
export const STORAGE_PROVIDER_WRAPPER = Symbol('STORAGE_PROVIDER_WRAPPER');

/**
 * Optional: `false` where the process queues storage work but does none (the CLI's
 * `delete-organization`, whose files the service's workers delete), so that a storage that does
 * not answer does not stop it at start-up. Unset everywhere else: the storage is checked.
 */
export const STORAGE_CHECKED_AT_START = Symbol('STORAGE_CHECKED_AT_START');

/**
 * `StorageModule.forRootAsync(...)` and the token its options are provided under, made by Nest's
 * builder. Not global: a module that uses storage imports it (see storage.module.ts).
 */
export const {
  ConfigurableModuleClass: ConfigurableStorageModule,
  MODULE_OPTIONS_TOKEN: STORAGE_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<StorageModuleOptions>().setClassMethodName('forRoot').build();
