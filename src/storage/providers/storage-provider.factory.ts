import type { ImageStorage } from '../image-storage';
import type { StorageProviderOptions } from '../storage.module-definition';
import type { StorageProvider } from '../storage-provider';
import { CloudinaryImageStorage } from './cloudinary.image-storage';
import { FilesImageStorage } from './files.image-storage';
import { LocalStorageProvider } from './local.storage-provider';

/** A provider, and the strategy by which it keeps images (see image-storage.ts). */
export interface OpenedStorage {
  provider: StorageProvider;
  images: ImageStorage;
}

/** Wraps a provider before its image strategy is built on it (measured.storage-provider.ts). */
export type ProviderWrapper = <P extends StorageProvider>(provider: P) => P;

/**
 * The provider the options name, configured (not yet checked), with its image strategy, both
 * using the provider as `wrap` returns it (so that the strategy's writes are measured too). SDKs are
 * loaded only for their driver: the Cloudinary SDK reads (and throws on a malformed)
 * CLOUDINARY_URL as soon as it is loaded, even when another driver is chosen. A new provider is
 * one more case here, its file in this folder and, unless it stores files as local and S3 do, its
 * ImageStorage strategy beside it.
 */
export async function openStorage(
  options: StorageProviderOptions,
  wrap: ProviderWrapper = (provider) => provider,
): Promise<OpenedStorage> {
  switch (options.driver) {
    case 'local': {
      const provider = wrap(new LocalStorageProvider(options.root, options.publicBaseUrl));
      return { provider, images: new FilesImageStorage(provider) };
    }
    case 's3': {
      const { S3StorageProvider } = await import('./s3.storage-provider.js');
      const provider = wrap(new S3StorageProvider(options));
      return { provider, images: new FilesImageStorage(provider) };
    }
    case 'cloudinary': {
      const { CloudinaryStorageProvider } = await import('./cloudinary.storage-provider.js');
      const provider = wrap(new CloudinaryStorageProvider(options));
      return { provider, images: new CloudinaryImageStorage(provider) };
    }
  }
}
