import type { StorageProvider } from '../storage/storage-provider';
import type { Image } from './entities/image.entity';

/** What a product embeds of its primary image. */
export interface ImageSummary {
  id: string;
  url: string;
  alt_text: string;
  width: number;
  height: number;
  /** Rendition name → URL. */
  renditions: Record<string, string>;
}

export function renditionUrls(image: Image, storage: StorageProvider): Record<string, string> {
  return Object.fromEntries(
    Object.entries(image.renditions).map(([name, r]) => [name, storage.url(r.key)]),
  );
}

/** Every storage key an image occupies: the original and each rendition. */
export function imageStorageKeys(image: Pick<Image, 'storageKey' | 'renditions'>): string[] {
  return [image.storageKey, ...Object.values(image.renditions).map((r) => r.key)];
}
