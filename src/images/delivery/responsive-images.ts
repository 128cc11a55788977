import { LRUCache } from 'lru-cache';
import { Inject, Injectable } from '@nestjs/common';
import { encodeShortId } from '../../common/ids/short-id';
import { IMAGE_STORAGE, type ImageStorage } from '../../storage/image-storage';
import type { Image } from '../entities/image.entity';
import { DELIVERY_CONFIG, deliverySettings, type DeliveryConfig } from './delivery.config';
import type { TransformFormatName } from './transform-options';
import {
  mayBeAnimated,
  planTransform,
  snapToLadder,
  type PlanSettings,
  type PresetBox,
  type TransformPlan,
} from './transform-plan';
import { TransformUrls } from './transform-urls';

/** One preset of an image, ready for `<picture>`: a srcset per format and the layout size. */
export interface ResponsiveImage {
  /** The 1× result's size, for the `<img>`'s width and height (no layout shift). */
  width: number;
  height: number;
  /** The fallback at 1×, for `<img src>`. */
  src: string;
  /** The fallback's media type: the original's format where browsers show it, else PNG or JPEG. */
  type: string;
  /** `url 320w, url 480w, …` for AVIF, WebP and the fallback format. */
  srcset: { avif: string; webp: string; fallback: string };
}

/** What the srcsets are computed from: an image's facts, never its files. */
export type ResponsiveSource = Pick<
  Image,
  'id' | 'width' | 'height' | 'format' | 'hasAlpha' | 'storageKey' | 'storageVersion'
>;

interface Box {
  width: number;
  height: number;
  fit: PresetBox['fit'];
}

interface Candidate {
  url: string;
  width: number;
  height: number;
  format: TransformPlan['format'];
}

/** The widths a preset's srcset offers, as multiples of its own: 1×, 1.5× and 2× screens. */
const DENSITIES = [1, 1.5, 2];
const MIME: Record<TransformPlan['format'], string> = {
  avif: 'image/avif',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
};
/**
 * Computed srcsets kept per image (their URLs depend only on its facts and the settings), the
 * least recently used dropped first. Each image's take about 5 KB (27 signed URLs): a thousand
 * covers the galleries being read, and is the memory a soak sees fill once, then stay.
 */
const KEPT_MAX = 1_000;

/**
 * The responsive form of an image, per configured preset: transform URLs at the preset's size at
 * 1×, 1.5× and 2× (rounded up to the width ladder, never beyond the original, duplicates
 * dropped), in AVIF, WebP and a fallback format, signed; or, where the storage makes results
 * itself (Cloudinary), its own URLs for the same transformations.
 */
@Injectable()
export class ResponsiveImages {
  private readonly settings: PlanSettings;
  private readonly kept = new LRUCache<string, Record<string, ResponsiveImage>>({ max: KEPT_MAX });

  constructor(
    @Inject(DELIVERY_CONFIG) config: DeliveryConfig,
    private readonly urls: TransformUrls,
    @Inject(IMAGE_STORAGE) private readonly images: ImageStorage,
  ) {
    this.settings = deliverySettings(config);
  }

  async of(image: ResponsiveSource): Promise<Record<string, ResponsiveImage>> {
    const kept = this.kept.get(image.id);
    if (kept) return kept;
    const responsive: Record<string, ResponsiveImage> = {};
    for (const preset of this.settings.presets)
      responsive[preset.name] = await this.preset(image, preset);
    this.kept.set(image.id, responsive);
    return responsive;
  }

  private async preset(image: ResponsiveSource, preset: PresetBox): Promise<ResponsiveImage> {
    const boxes = this.boxes(preset);
    const fallback = await this.srcset(image, boxes, 'auto');
    const webp = (await this.srcset(image, boxes, 'webp')).srcset;
    return {
      width: fallback.first.width,
      height: fallback.first.height,
      src: fallback.first.url,
      type: MIME[fallback.first.format],
      srcset: {
        // A GIF or WebP may be animated: its `avif` source names WebP, which keeps the frames
        // (every browser that shows AVIF shows WebP, and reads the type from the bytes).
        avif: mayBeAnimated(image) ? webp : (await this.srcset(image, boxes, 'avif')).srcset,
        webp,
        fallback: fallback.srcset,
      },
    };
  }

  /** The preset's box at each density, its width rounded up to the ladder, its ratio kept. */
  private boxes(preset: PresetBox): Box[] {
    return DENSITIES.map((density) => {
      const wanted = preset.width * density;
      const width = snapToLadder(this.settings.ladder, wanted);
      const height = Math.round((width * preset.height) / preset.width);
      return { width, height, fit: preset.fit };
    });
  }

  /** One srcset: a candidate per box, in `format` (`auto`: the fallback, chosen without Accept). */
  private async srcset(image: ResponsiveSource, boxes: Box[], format: TransformFormatName) {
    const seen = new Set<number>();
    const candidates: Candidate[] = [];
    for (const box of boxes) {
      const plan = planTransform({ ...box, format, dpr: 1 }, image, {
        ...this.settings,
        presets: [],
        accept: undefined,
      });
      if (seen.has(plan.width)) continue;
      seen.add(plan.width);
      const options = `w_${box.width},h_${box.height},c_${box.fit},f_${plan.format}`;
      const url =
        (await this.images.transformedUrl(
          { key: image.storageKey, version: image.storageVersion },
          plan,
        )) ?? this.urls.signed(encodeShortId(image.id), options);
      candidates.push({ url, width: plan.width, height: plan.height, format: plan.format });
    }
    return {
      first: candidates[0],
      srcset: candidates.map((c) => `${c.url} ${c.width}w`).join(', '),
    };
  }
}
