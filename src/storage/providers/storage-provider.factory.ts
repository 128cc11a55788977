import type { StorageProviderOptions } from '../storage.module-definition';
import type { StorageProvider } from '../storage-provider';
import { LocalStorageProvider } from './local.storage-provider';

/**
 * The provider the options name, configured (not yet checked). SDKs are loaded only for their
 * driver: the Cloudinary SDK reads (and throws on a malformed) CLOUDINARY_URL as soon as it is
 * loaded, even when another driver is chosen. A new provider is one more case here and its file
 * in this folder.
 */
export async function openStorageProvider(
  options: StorageProviderOptions,
): Promise<StorageProvider> {
  switch (options.driver) {
    case 'local':
      return new LocalStorageProvider(options.root, options.publicBaseUrl);
    case 's3': {
      const { S3StorageProvider } = await import('./s3.storage-provider.js');
      return new S3StorageProvider(options);
    }
    case 'cloudinary': {
      const { CloudinaryStorageProvider } = await import('./cloudinary.storage-provider.js');
      return new CloudinaryStorageProvider(options);
    }
  }
}
