import { keyStem } from '../storage/storage-keys';
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

export interface ImageUrls {
  original: string;
  /** Rendition name → URL. */
  renditions: Record<string, string>;
}

/**
 * The URLs of an image's original and renditions: stored files, or, where the storage derives
 * renditions on delivery, the original's URL with each rendition's transformation.
 */
export async function imageUrls(image: Image, storage: StorageProvider): Promise<ImageUrls> {
  const renditions = await Promise.all(
    Object.entries(image.renditions).map(
      async ([name, r]) => [name, await storage.url(r.key, r.transform)] as const,
    ),
  );
  return {
    original: await storage.url(image.storageKey),
    renditions: Object.fromEntries(renditions),
  };
}

/** Every storage key an image occupies: the original and each stored rendition, once each. */
export function imageStorageKeys(image: Pick<Image, 'storageKey' | 'renditions'>): string[] {
  return [...new Set([image.storageKey, ...Object.values(image.renditions).map((r) => r.key)])];
}

/**
 * The keys of `previous` that `next` does not take over. A key `next` writes again, or one that
 * differs only by extension (the same object on Cloudinary), is kept.
 */
export function releasedKeys(
  previous: Pick<Image, 'storageKey' | 'renditions'>,
  next: Pick<Image, 'storageKey' | 'renditions'>,
): string[] {
  const kept = new Set(imageStorageKeys(next).map(keyStem));
  return imageStorageKeys(previous).filter((key) => !kept.has(keyStem(key)));
}
