import { join, resolve } from 'node:path';
import { configSliceProvider, type ConfigSlice } from '../config/config-slice';
import { StorageDriver } from '../config/env.validation';
import { parseCloudinaryUrl } from './providers/cloudinary-url';
import type { CloudinaryStorageOptions } from './providers/cloudinary.storage-provider';
import type { S3StorageOptions } from './providers/s3.storage-provider';
import type { StorageModuleOptions, StorageProviderOptions } from './storage.module-definition';

export const STORAGE_CONFIG = Symbol('STORAGE_CONFIG');

/** Where image bytes live and how long storage may take; the S3 and Cloudinary accounts. */
const STORAGE_SETTINGS = [
  'STORAGE_DRIVER',
  'STORAGE_TIMEOUT_MS',
  // Local storage: its folder (by default in DATA_DIR) and the base of its /media URLs.
  'STORAGE_LOCAL_DIR',
  'DATA_DIR',
  'PUBLIC_BASE_URL',
  'PORT',
  'S3_BUCKET',
  'S3_REGION',
  'S3_ENDPOINT',
  'S3_FORCE_PATH_STYLE',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'S3_KEY_PREFIX',
  'S3_REQUEST_CHECKSUM_CALCULATION',
  'S3_RESPONSE_CHECKSUM_VALIDATION',
  'S3_PUBLIC_BASE_URL',
  'S3_PRESIGN_TTL_SECONDS',
  'CLOUDINARY_URL',
  'CLOUDINARY_CLOUD_NAME',
  'CLOUDINARY_API_KEY',
  'CLOUDINARY_API_SECRET',
  'CLOUDINARY_FOLDER',
] as const;

/** The settings storage/ reads. */
export type StorageConfig = ConfigSlice<(typeof STORAGE_SETTINGS)[number]>;

export const storageConfigProvider = configSliceProvider(STORAGE_CONFIG, STORAGE_SETTINGS);

/** The absolute base URL of links the service hands out. */
export function publicBaseUrl(config: Pick<StorageConfig, 'PUBLIC_BASE_URL' | 'PORT'>): string {
  return config.PUBLIC_BASE_URL ?? `http://localhost:${config.PORT}`;
}

/** The folder of local storage: STORAGE_LOCAL_DIR, else `<DATA_DIR>/media`. */
export function localStorageRoot(
  config: Pick<StorageConfig, 'STORAGE_LOCAL_DIR' | 'DATA_DIR'>,
): string {
  return resolve(config.STORAGE_LOCAL_DIR ?? join(config.DATA_DIR, 'media'));
}

/** StorageModule's options from the settings (already validated, so required ones are set). */
export function storageOptionsFromEnv(config: StorageConfig): StorageModuleOptions {
  return { provider: providerOptions(config), timeoutMs: config.STORAGE_TIMEOUT_MS };
}

function providerOptions(config: StorageConfig): StorageProviderOptions {
  switch (config.STORAGE_DRIVER) {
    case StorageDriver.Local:
      return {
        driver: 'local',
        root: localStorageRoot(config),
        publicBaseUrl: publicBaseUrl(config),
      };
    case StorageDriver.S3:
      return { driver: 's3', ...s3Options(config) };
    case StorageDriver.Cloudinary:
      return { driver: 'cloudinary', ...cloudinaryOptions(config) };
  }
}

function s3Options(config: StorageConfig): S3StorageOptions {
  return {
    bucket: config.S3_BUCKET!,
    region: config.S3_REGION,
    endpoint: config.S3_ENDPOINT,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    credentials:
      config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
        ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY }
        : undefined,
    keyPrefix: config.S3_KEY_PREFIX,
    requestChecksumCalculation: config.S3_REQUEST_CHECKSUM_CALCULATION,
    responseChecksumValidation: config.S3_RESPONSE_CHECKSUM_VALIDATION,
    publicBaseUrl: config.S3_PUBLIC_BASE_URL,
    presignTtlSeconds: config.S3_PRESIGN_TTL_SECONDS,
    timeoutMs: config.STORAGE_TIMEOUT_MS,
  };
}

function cloudinaryOptions(config: StorageConfig): CloudinaryStorageOptions {
  return {
    ...(config.CLOUDINARY_URL
      ? parseCloudinaryUrl(config.CLOUDINARY_URL)
      : {
          cloudName: config.CLOUDINARY_CLOUD_NAME!,
          apiKey: config.CLOUDINARY_API_KEY!,
          apiSecret: config.CLOUDINARY_API_SECRET!,
          settings: {},
        }),
    folder: config.CLOUDINARY_FOLDER,
    timeoutMs: config.STORAGE_TIMEOUT_MS,
  };
}
