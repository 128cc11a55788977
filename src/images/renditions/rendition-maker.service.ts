import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  IMAGE_STORAGE,
  type ImageStorage,
  type RenditionToStore,
} from '../../storage/image-storage';
import { imageObjectKey } from '../../storage/storage-keys';
import { STORAGE_PROVIDER, type StorageProvider } from '../../storage/storage-provider';
import type { StoredRendition } from '../entities/image.entity';
import { ImageProcessor, type EncodedImage } from '../processing/image-processor';
import { releaseStoredOriginal, spoolStoredOriginal } from '../stored-original';
import type { RebuiltImage } from './image-renditions.repository';
import { renditionSetOf } from './rendition-set';
import { RENDITIONS_CONFIG, type RenditionsConfig } from './renditions.config';

/**
 * Makes an image's renditions again, as the configured presets say, from its stored original: read
 * back from storage into the upload spool and processed by the same ImageProcessor as uploads
 * (its slots and queue limits, its pixel limit), then stored through the storage's ImageStorage
 * strategy under new keys, so that the files the row names stay until it names the new ones.
 * Where storage derives renditions on delivery, nothing is read or encoded: the strategy records
 * the new transformations of the original.
 */
@Injectable()
export class RenditionMaker {
  /** The signature of the presets this instance makes renditions with. */
  readonly renditionSet: string;

  constructor(
    @Inject(IMAGE_STORAGE) private readonly images: ImageStorage,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly processor: ImageProcessor,
    @Inject(RENDITIONS_CONFIG) private readonly config: RenditionsConfig,
  ) {
    this.renditionSet = renditionSetOf(processor.presets);
  }

  /**
   * Makes and stores `image`'s renditions; every key is pushed onto `written` before it is
   * written, so the caller can delete them if the image does not take them.
   */
  async make(image: RebuiltImage, written: string[]): Promise<Record<string, StoredRendition>> {
    const encoded = this.images.needsRenditionBytes
      ? await this.encode(image.storageKey)
      : undefined;
    const renditions: RenditionToStore[] = this.processor.presets.map(({ name, ...transform }) => ({
      name,
      transform,
      file: () => {
        const file = encoded?.[name];
        if (!file) throw new Error(`rendition ${name} was not encoded`);
        return file;
      },
    }));
    return this.images.storeRenditions(
      {
        original: { key: image.storageKey, width: image.width, height: image.height },
        renditions,
        keyOf: (variant, extension) =>
          imageObjectKey(image, image.id, freshVariant(variant), extension),
      },
      written,
    );
  }

  private async encode(key: string): Promise<Record<string, EncodedImage>> {
    // A saturated processor refuses now (503 server_busy: the job is retried later), before the
    // whole original is read from storage and written to the spool only to be refused.
    this.processor.refuseIfBusy('process');
    const path = await spoolStoredOriginal(this.storage, key, this.config, 'rendition-rebuild');
    try {
      const processed = await this.processor.process(path, { renditions: true, stored: true });
      return processed.renditions;
    } finally {
      await releaseStoredOriginal(path);
    }
  }
}

/**
 * A rendition's new variant, never one its image used before: the preset's name (shortened to
 * leave room) and eight random hex digits, within the 32 characters a key's variant may have.
 */
function freshVariant(name: string): string {
  return `${name.slice(0, 23)}-${randomBytes(4).toString('hex')}`;
}
