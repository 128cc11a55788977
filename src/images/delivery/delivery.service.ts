import { Inject, Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { AppError } from '../../common/errors/app.error';
import { parseId } from '../../common/ids/parse-id.pipe';
import { safeError } from '../../common/logging/safe-error';
import { IMAGE_STORAGE, type ImageStorage } from '../../storage/image-storage';
import type { MediaAnswer, MediaRequest } from '../../storage/media-answer';
import { derivedObjectKey } from '../../storage/storage-keys';
import {
  STORAGE_PROVIDER,
  StorageError,
  type StorageProvider,
} from '../../storage/storage-provider';
import { OriginalMissingError } from '../stored-original';
import { publicBaseUrl } from '../../storage/storage.config';
import { canonicalTransformPath, type TransformSegments } from './canonical-transform-url';
import { DELIVERY_CONFIG, deliverySettings, type DeliveryConfig } from './delivery.config';
import { DeliveryRepository, type DeliverableImage } from './delivery.repository';
import {
  isUnsignedAllowed,
  parseTransformOptions,
  TransformOptionsError,
  type TransformOptions,
} from './transform-options';
import {
  planTransform,
  UnknownPresetError,
  type PlanSettings,
  type TransformPlan,
} from './transform-plan';
import { RESULT_EXTENSIONS, TransformResults } from './transform-results.service';
import { UNSIGNED } from './transform-urls';
import { UrlSigner } from './url-signer';

/** How long an image's row is trusted without reading it again, and how many are kept. */
const IMAGE_KEPT_MS = 5_000;
const IMAGES_KEPT_MAX = 2_000;
/**
 * How stale the clock the image cache reads expiries by may be: lru-cache reads performance.now()
 * once per this long, not on every lookup (a row is trusted up to this much longer). Measured with
 * node on a cached lookup, this costs the same as or less than a Map with an expiry per entry
 * reading the clock each time, and without the timer lru-cache's ttlAutopurge sets per entry.
 */
const IMAGE_CLOCK_RESOLUTION_MS = 100;
/** How many checked transform URLs (options parsed, signature verified) are kept. */
const CHECKED_KEPT_MAX = 10_000;

/** A transform URL, as its path names it, and the request's headers that decide the answer. */
export interface TransformRequest {
  signature: string;
  options: string;
  imageId: string;
  accept: string | undefined;
  media: MediaRequest;
  /** Aborted once the client has gone: a result only it asked for is then not made. */
  signal?: AbortSignal;
}

/**
 * What a transform URL answers: the result's bytes (or 304/206/416) from storage, or, where the
 * storage makes results itself, a redirect to its URL. `varies`: the format was chosen from
 * Accept, so caches must key on it. `byPreset`: its size comes from a preset named in the URL,
 * which the configuration may change under it (IMAGE_RENDITIONS), so its answer has an ETag but no
 * Last-Modified; every other URL names all it makes. `expiresAt`: the image is a stand-alone
 * upload that stops being delivered then (404), so no cache may keep it longer.
 */
export type TransformAnswer =
  | {
      kind: 'stored';
      answer: MediaAnswer;
      varies: boolean;
      byPreset: boolean;
      expiresAt: Date | null;
    }
  | { kind: 'redirect'; url: string; varies: boolean; expiresAt: Date | null };

/**
 * Images at any size and format on request: checks a transform URL (its options, then its
 * signature or the unsigned-preset rule), finds the image, plans the result (ladder, original's
 * size, negotiated format), has it made once (TransformResults) and answers it from storage, or
 * redirects to the storage that makes results itself (Cloudinary).
 */
@Injectable()
export class DeliveryService {
  private readonly logger = new Logger('Delivery');
  private readonly settings: PlanSettings;
  private readonly publicBase: string;
  /**
   * The options of URLs whose check passed, by URL (see checkedKey): a URL asked for again is not
   * parsed nor its HMAC computed again, which was most of what the service itself spent on a
   * result already made. What a check decides never changes while the process runs (the keys are
   * read at start-up); a URL that failed is not kept, so it is checked, and refused, every time.
   */
  private readonly checked = new LRUCache<string, Readonly<TransformOptions>>({
    // The least recently used goes once full, not all at once (each then checked again).
    max: CHECKED_KEPT_MAX,
  });
  /** Images read lately, by the id as the URL spells it, each trusted for IMAGE_KEPT_MS. */
  private readonly kept = new LRUCache<string, DeliverableImage>({
    max: IMAGES_KEPT_MAX,
    ttl: IMAGE_KEPT_MS,
    ttlAutopurge: false,
    ttlResolution: IMAGE_CLOCK_RESOLUTION_MS,
  });

  constructor(
    @Inject(DELIVERY_CONFIG) config: DeliveryConfig,
    private readonly signer: UrlSigner,
    private readonly repository: DeliveryRepository,
    private readonly results: TransformResults,
    @Inject(IMAGE_STORAGE) private readonly images: ImageStorage,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
  ) {
    this.settings = deliverySettings(config);
    this.publicBase = publicBaseUrl(config);
  }

  /**
   * The absolute URL of the canonical spelling of a transform URL whose path (as the request
   * wrote it, without its query) spells it otherwise, or undefined (see canonicalTransformPath).
   */
  canonicalUrl(path: string, segments: TransformSegments): string | undefined {
    const canonical = canonicalTransformPath(path, segments);
    return canonical === undefined ? undefined : `${this.publicBase}${canonical}`;
  }

  async answer(request: TransformRequest): Promise<TransformAnswer> {
    const options = this.checkedOptions(request);
    const image = await this.findImage(request.imageId);
    const plan = this.plan(options, image, request.accept);
    // Where the storage makes results, f_auto is its own (and the quality with it): the redirect
    // is the same for every browser, and the storage's answer is what varies by Accept.
    const auto = options.format === 'auto';
    const original = { key: image.storageKey, version: image.storageVersion };
    const redirect = await this.images.transformedUrl(original, {
      ...plan,
      format: auto ? 'auto' : plan.format,
      quality: auto ? (options.quality ?? 'auto') : plan.quality,
    });
    if (redirect)
      return { kind: 'redirect', url: redirect, varies: false, expiresAt: image.expiresAt };
    const key = derivedObjectKey(image.id, plan.variant, RESULT_EXTENSIONS[plan.format]);
    const byPreset = options.preset !== undefined;
    // A preset's answer has no date validator (see withoutDateConditions).
    const served = byPreset ? { ...request, media: withoutDateConditions(request.media) } : request;
    try {
      const answer = await this.serve(image, key, plan, served);
      return {
        kind: 'stored',
        answer: byPreset ? withoutLastModified(answer) : answer,
        varies: plan.negotiated,
        byPreset,
        expiresAt: image.expiresAt,
      };
    } catch (error) {
      if (error instanceof OriginalMissingError) {
        throw new AppError('image_not_found', "The image's original is not in storage.");
      }
      // The request is right; the stored bytes are not (damaged in storage, or by hand).
      if (error instanceof AppError && error.code === 'invalid_image') {
        throw new AppError(
          'image_original_unreadable',
          `The stored original of image ${image.id} could not be decoded: it is truncated or corrupt.`,
        );
      }
      if (error instanceof StorageError) {
        // As an upload's: the answer says only storage_unavailable, the log why and where (the
        // result's key, and its original's, either of which the failing call may have been on).
        this.logger.warn(
          { err: safeError(error.cause ?? error), key, original: image.storageKey },
          'Transform storage failed',
        );
        throw new AppError(
          'storage_unavailable',
          'The image storage is unavailable; try again later.',
        );
      }
      throw error;
    }
  }

  private checkedOptions(request: TransformRequest): TransformOptions {
    const key = checkedKey(request);
    const known = this.checked.get(key);
    if (known) return known;
    const options = this.checkOptions(request);
    this.checked.set(key, Object.freeze(options));
    return options;
  }

  private checkOptions(request: TransformRequest): TransformOptions {
    let options: TransformOptions;
    try {
      options = parseTransformOptions(request.options);
    } catch (error) {
      if (error instanceof TransformOptionsError) {
        throw new AppError('transform_invalid', error.message);
      }
      throw error;
    }
    this.refuseUnknownPreset(options);
    const allowed =
      request.signature === UNSIGNED
        ? isUnsignedAllowed(request.options, options)
        : this.signer.verify(request.signature, request.options, request.imageId);
    if (!allowed) {
      throw new AppError(
        'transform_signature_invalid',
        request.signature === UNSIGNED
          ? 'Only a preset by name (p_, with f_ at most) may be asked for without a signature.'
          : 'The signature does not match the options and image of this URL.',
      );
    }
    return options;
  }

  /**
   * A preset the configuration does not name is malformed options (400 transform_invalid), decided
   * with them, before the signature and the image: it was found only when the result was planned,
   * after the image, so that an image not found (404) or a malformed id (400 invalid_id) answered
   * first. The presets are read at start-up, as the signing keys are: a check never goes stale.
   */
  private refuseUnknownPreset({ preset }: TransformOptions): void {
    if (preset === undefined || this.settings.presets.some(({ name }) => name === preset)) return;
    throw new AppError('transform_invalid', `No preset named ${preset}.`);
  }

  /**
   * The image, read from the database at most once per IMAGE_KEPT_MS per process: a cached result
   * costs no query. An image deleted meanwhile is 404 at once all the same: its files and results
   * are deleted before its DELETE answers, and a result not found is made again from an original
   * that is gone (OriginalMissingError); should the storage have refused to delete them, their
   * queued deletion says it is gone (TransformResults.areDeleted).
   */
  private async findImage(shortId: string): Promise<DeliverableImage> {
    const kept = this.kept.get(shortId);
    if (kept) {
      if (!(await this.results.areDeleted(kept))) return kept;
      // Deleted since it was read, its results perhaps still stored (a deletion the storage
      // refused): as the database now says.
      this.kept.delete(shortId);
    }
    // A malformed id is 400 invalid_id, as on every route (checked after the signature, which
    // signs the id as the URL spells it).
    const id = parseId(shortId, 'id');
    const image = await this.repository.findDeliverable(id);
    if (!image) throw new AppError('image_not_found', 'No such image.');
    this.kept.set(shortId, image);
    return image;
  }

  private plan(options: TransformOptions, image: DeliverableImage, accept?: string): TransformPlan {
    try {
      return planTransform(options, image, { ...this.settings, accept });
    } catch (error) {
      if (error instanceof UnknownPresetError)
        throw new AppError('transform_invalid', error.message);
      throw error;
    }
  }

  /** Made if need be, then answered from storage; made again once if it vanished meanwhile. */
  private async serve(
    image: DeliverableImage,
    key: string,
    plan: TransformPlan,
    request: TransformRequest,
  ): Promise<MediaAnswer> {
    const serve = this.storage.serve?.bind(this.storage);
    if (!serve) throw new Error(`${this.storage.driver} storage does not serve stored results`);
    await this.results.ensure(image, key, plan, request.signal);
    const answer = await serve(key, request.media);
    if (answer.kind !== 'not_found') return answer;
    this.results.forget(key);
    await this.results.ensure(image, key, plan, request.signal);
    return serve(key, request.media);
  }
}

/**
 * A URL's signature, options and image id as one key, unambiguous whatever they hold (a parameter
 * may hold a `/`, percent-encoded): prefixed with the lengths of the first two.
 */
const checkedKey = ({ signature, options, imageId }: TransformRequest): string =>
  `${signature.length}:${options.length}:${signature}/${options}/${imageId}`;

/**
 * A preset asked for by name is validated by its ETag alone. What the URL makes follows
 * IMAGE_RENDITIONS, and after a change it maps to another stored result, which may be older than
 * the copy a cache holds (made earlier for another URL of that size): its date would go back, and
 * If-Modified-Since would keep the old image as current. Without a Last-Modified, a date condition
 * is ignored (RFC 9110 13.1.3, 13.1.4), and a date in If-Range matches nothing, so its Range is
 * ignored too (13.1.5): the whole result.
 */
function withoutDateConditions(media: MediaRequest): MediaRequest {
  const {
    'if-modified-since': _modifiedSince,
    'if-unmodified-since': _unmodifiedSince,
    ...headers
  } = media.headers;
  const ifRange = headers['if-range'];
  if (ifRange !== undefined && !/^\s*(?:W\/)?"/.test(String(ifRange))) {
    delete headers['if-range'];
    delete headers.range;
  }
  return { ...media, headers };
}

/** The answer without its date validator, as {@link withoutDateConditions} says. */
function withoutLastModified(answer: MediaAnswer): MediaAnswer {
  if (answer.kind !== 'file') return answer;
  const { 'Last-Modified': _lastModified, ...headers } = answer.headers;
  return { ...answer, headers };
}
