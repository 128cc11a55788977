import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { v2 as cloudinary, type UploadApiResponse } from 'cloudinary';
import { withTimeout } from '../../common/concurrency/with-timeout';
import { StorageWriteError } from '../image-storage';
import type { DeliveryTransform, ImageFit, ImageTransform } from '../image-transform';
import { cloudinaryAsset, cloudinaryPrefix, keyOfCloudinaryAsset } from './cloudinary-asset';
import type { CloudinaryCredentials } from './cloudinary-url';
import {
  StorageError,
  type ListedObject,
  type ListOptions,
  type PutOptions,
  type StorageProvider,
  type StoredObject,
} from '../storage-provider';

/** What a Cloudinary upload takes beyond any provider's options. */
export interface CloudinaryPutOptions extends PutOptions {
  /**
   * Applied on upload (with format and quality auto): the transformation the bytes already went
   * through (the Ocha API's crop), so that what Cloudinary keeps is what the Ocha API's upload
   * would have kept.
   */
  transformOnUpload?: ImageTransform;
}

export interface CloudinaryStorageOptions extends CloudinaryCredentials {
  /** Every upload's folder, e.g. `products/`. */
  folder: string;
  timeoutMs: number;
}

const CHECK_CACHE_MS = 60_000;
/** The Admin API's largest page of resources. */
const LIST_PAGE_MAX = 500;

/** Our fits as Cloudinary crop modes: fill (centre or automatic gravity) and limit. */
const CROP: Record<ImageFit, { crop: string; gravity?: string }> = {
  cover: { crop: 'fill', gravity: 'center' },
  attention: { crop: 'fill', gravity: 'auto' },
  inside: { crop: 'limit' },
};

/**
 * Images on Cloudinary. Uploads are signed and streamed (`upload_stream`) to a public id derived
 * from the key, with `overwrite`, so a retry replaces itself. Renditions are not stored: they are
 * delivery URLs with a transformation (e.g. `c_fill,g_auto,h_500,w_500/f_auto/q_auto`, see
 * {@link transformedUrl} and cloudinary.image-storage.ts). The only file that imports the
 * Cloudinary SDK. A call's CallOptions.signal is ignored: the SDK's admin and destroy calls take
 * none; the deadline (deadline.storage-provider.ts) still stops waiting for them.
 */
export class CloudinaryStorageProvider implements StorageProvider {
  readonly driver = 'cloudinary';
  private readonly agent: HttpAgent;
  private readonly secure: boolean;
  private lastGoodCheck = -Infinity;

  constructor(private readonly options: CloudinaryStorageOptions) {
    const prefix = options.settings.upload_prefix ?? 'https://api.cloudinary.com';
    // The SDK picks http or https once for the whole process; an agent per provider decides.
    this.agent = prefix.startsWith('http:')
      ? new HttpAgent({ keepAlive: true })
      : new HttpsAgent({ keepAlive: true });
    this.secure = options.settings.secure !== 'false';
  }

  async put(
    key: string,
    body: Readable | Buffer,
    options: CloudinaryPutOptions,
  ): Promise<StoredObject> {
    const asset = cloudinaryAsset(key, this.options.folder);
    const action = `uploading ${key} (${options.contentType})`;
    const result = await new Promise<UploadApiResponse | undefined>((resolve, reject) => {
      const upload = cloudinary.uploader.upload_stream(
        {
          ...this.api(),
          resource_type: 'image',
          folder: asset.folder,
          public_id: asset.publicId,
          overwrite: true,
          invalidate: true,
          unique_filename: false,
          use_filename: false,
          filename: `${asset.publicId.split('/').pop()}.${asset.extension}`,
          ...(options.transformOnUpload
            ? {
                transformation: [
                  cropOf(options.transformOnUpload),
                  { fetch_format: 'auto', quality: 'auto' },
                ],
              }
            : {}),
        },
        (error, response) => (error ? reject(this.failure(action, error)) : resolve(response)),
      );
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      // Aborted (STORAGE_TIMEOUT_MS passed): the body and the upload are destroyed, so the rest
      // is never sent and Cloudinary, holding an unfinished form, keeps nothing; the SDK's request
      // itself, which it does not expose, ends at its own timeout.
      const signal = options.signal && { signal: options.signal };
      pipeline(source, upload, { ...signal }).catch((error: unknown) =>
        reject(this.failure(action, error)),
      );
    });
    if (!result) throw this.failure(`uploading ${key}`, new Error('empty response'));
    return storedObject(key, result);
  }

  async delete(key: string): Promise<void> {
    await this.destroy(key);
  }

  /**
   * Moves the asset stored under `from` onto `to` (Cloudinary's rename, with `overwrite` and
   * `invalidate`): how a key that a row names is given new bytes, so that no upload ever writes
   * over it (an upload given up at its deadline may still be completed by Cloudinary, long after
   * its failure was answered). A rename that failed may have reached Cloudinary all the same, and
   * be carried out later: `from` is then destroyed, which settles it. `ok`: the asset was still
   * there, so no rename can move it any more, and the move failed (a StorageWriteError); `not
   * found`: the rename took place, and `to` is what it moved. Only when that destroy fails too is
   * the outcome unknown (a StorageWriteError that says `timedOut`).
   */
  async rename(from: string, to: string): Promise<StoredObject> {
    const source = cloudinaryAsset(from, this.options.folder);
    const target = cloudinaryAsset(to, this.options.folder);
    let moved: UploadApiResponse;
    try {
      moved = (await withTimeout(
        cloudinary.uploader.rename(source.fullId, target.fullId, {
          ...this.api(),
          resource_type: 'image',
          type: 'upload',
          overwrite: true,
          invalidate: true,
        }),
        this.options.timeoutMs,
        'Cloudinary rename',
      )) as UploadApiResponse;
    } catch (error) {
      const failure = this.failure(`moving ${from} to ${to}`, error);
      let settled: 'ok' | 'not found';
      try {
        settled = await this.destroy(from);
      } catch (unsettled) {
        throw new StorageWriteError(to, unsettled, true);
      }
      if (settled === 'ok') throw new StorageWriteError(to, failure);
      return this.describe(to);
    }
    return storedObject(to, moved);
  }

  /** Destroys the asset of `key`: `ok`, or `not found` when there was none. */
  private async destroy(key: string): Promise<'ok' | 'not found'> {
    const { fullId } = cloudinaryAsset(key, this.options.folder);
    let result: { result?: string };
    try {
      result = (await withTimeout(
        cloudinary.uploader.destroy(fullId, {
          ...this.api(),
          resource_type: 'image',
          type: 'upload',
          invalidate: true,
        }),
        this.options.timeoutMs,
        'Cloudinary destroy',
      )) as { result?: string };
    } catch (error) {
      throw this.failure(`deleting ${key}`, error);
    }
    if (result.result !== 'ok' && result.result !== 'not found') {
      throw this.failure(`deleting ${key}`, new Error(`result ${String(result.result)}`));
    }
    return result.result;
  }

  /** What Cloudinary holds under `key` now (the Admin API's resource). */
  private async describe(key: string): Promise<StoredObject> {
    const { fullId } = cloudinaryAsset(key, this.options.folder);
    try {
      const resource = (await withTimeout(
        cloudinary.api.resource(fullId, { ...this.api(), resource_type: 'image' }),
        this.options.timeoutMs,
        'Cloudinary resource lookup',
      )) as UploadApiResponse;
      return storedObject(key, resource);
    } catch (error) {
      throw this.failure(`checking ${key}`, error);
    }
  }

  async exists(key: string): Promise<boolean> {
    const { fullId } = cloudinaryAsset(key, this.options.folder);
    try {
      // The Admin API ignores its timeout option: ours applies.
      await withTimeout(
        cloudinary.api.resource(fullId, { ...this.api(), resource_type: 'image' }),
        this.options.timeoutMs,
        'Cloudinary resource lookup',
      );
      return true;
    } catch (error) {
      if (httpCode(error) === 404) return false;
      throw this.failure(`checking ${key}`, error);
    }
  }

  /**
   * The folder's assets whose keys start with `prefix`, through the Admin API's resource listing
   * (up to 500 a request, each counted against the account's hourly Admin API limit), with the
   * time of their latest upload. The listing of a prefix is the folder's (`products/` keys live
   * directly in it), the keys of other prefixes left out: a run of pages may yield nothing, so
   * each request is told (ListOptions.onPage), its deadline its own.
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListedObject> {
    const { folder } = this.options;
    let cursor: string | undefined;
    do {
      let page: ResourcePage;
      options.onPage?.();
      try {
        page = (await withTimeout(
          cloudinary.api.resources({
            ...this.api(),
            resource_type: 'image',
            type: 'upload',
            prefix: cloudinaryPrefix(prefix, folder),
            max_results: Math.min(LIST_PAGE_MAX, options.pageSize ?? LIST_PAGE_MAX),
            ...(cursor ? { next_cursor: cursor } : {}),
          }),
          this.options.timeoutMs,
          'Cloudinary resource listing',
        )) as ResourcePage;
      } catch (error) {
        throw this.failure(`listing ${prefix}`, error);
      }
      for (const resource of page.resources ?? []) {
        const key = keyOfCloudinaryAsset(resource.public_id, resource.format, folder);
        if (key?.startsWith(prefix)) yield { key, lastModified: new Date(resource.created_at) };
      }
      cursor = page.next_cursor;
    } while (cursor);
  }

  /**
   * The URL of the object stored under `key`, with the `version` its upload was given where known:
   * an object written over (the Ocha API's `products/<slug>`) then has a new URL, which no browser
   * or CDN holds the old bytes of. Without one, the SDK's `v1` (any earlier version serves the
   * latest).
   */
  url(key: string, version?: number | null): Promise<string> {
    const asset = cloudinaryAsset(key, this.options.folder);
    return Promise.resolve(
      this.deliveryUrl(asset.fullId, {
        ...(version ? { version } : {}),
        format: asset.extension,
        // As on every provider: an SVG opened directly is a download, not a page.
        ...(asset.extension === 'svg' ? { flags: 'attachment' } : {}),
      }),
    );
  }

  /** The URL of a rendition Cloudinary derives at delivery: the original with `transform`. */
  transformedUrl(key: string, transform: ImageTransform, version?: number | null): Promise<string> {
    const asset = cloudinaryAsset(key, this.options.folder);
    return Promise.resolve(
      this.deliveryUrl(asset.fullId, {
        ...(version ? { version } : {}),
        transformation: [cropOf(transform), { fetch_format: 'auto' }, { quality: 'auto' }],
      }),
    );
  }

  /**
   * The URL of a result made on request, mapped onto Cloudinary's own URL transformations (see
   * {@link deliveryTransformation}). Cloudinary makes and caches the result; no bytes pass
   * through the service.
   */
  deliveredUrl(
    key: string,
    transform: DeliveryTransform,
    version?: number | null,
  ): Promise<string> {
    const asset = cloudinaryAsset(key, this.options.folder);
    return Promise.resolve(
      this.deliveryUrl(asset.fullId, {
        ...(version ? { version } : {}),
        transformation: deliveryTransformation(transform),
      }),
    );
  }

  /**
   * The credentials work (Admin API ping). The Admin API is rate-limited per hour, so a success
   * is trusted for a minute: readiness probes every few seconds must not use up the quota.
   */
  async check(): Promise<void> {
    if (Date.now() - this.lastGoodCheck < CHECK_CACHE_MS) return;
    try {
      await withTimeout(cloudinary.api.ping(this.api()), this.options.timeoutMs, 'Cloudinary ping');
      this.lastGoodCheck = Date.now();
    } catch (error) {
      const code = httpCode(error);
      if (code === 401 || code === 403) {
        throw new StorageError(
          `Cloudinary refused our credentials for cloud "${this.options.cloudName}" ` +
            `(HTTP ${code}): check CLOUDINARY_URL or CLOUDINARY_API_KEY/CLOUDINARY_API_SECRET`,
          { cause: withoutCredentials(error) },
        );
      }
      throw this.failure('checking the credentials', error);
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private deliveryUrl(fullId: string, options: Record<string, unknown>): string {
    const { settings } = this.options;
    return cloudinary.url(fullId, {
      cloud_name: this.options.cloudName,
      secure: this.secure,
      secure_distribution: settings.secure_distribution,
      cname: settings.cname,
      private_cdn: settings.private_cdn === 'true',
      urlAnalytics: false,
      ...options,
    });
  }

  /** Per-call configuration: nothing global, so several providers can coexist (tests). */
  private api() {
    return {
      cloud_name: this.options.cloudName,
      api_key: this.options.apiKey,
      api_secret: this.options.apiSecret,
      upload_prefix: this.options.settings.upload_prefix,
      timeout: this.options.timeoutMs,
      agent: this.agent,
    };
  }

  private failure(action: string, error: unknown): StorageError {
    // A failed call means the last good check no longer says anything.
    this.lastGoodCheck = -Infinity;
    const code = httpCode(error);
    const message = messageOf(error);
    const detail = [code ? `HTTP ${code}` : undefined, message].filter(Boolean).join(': ');
    return new StorageError(`Cloudinary failed ${action}: ${detail || 'unknown error'}`, {
      cause: withoutCredentials(error),
    });
  }
}

/** An asset as Cloudinary describes it (upload, rename, resource), as a stored object. */
function storedObject(key: string, asset: UploadApiResponse): StoredObject {
  return {
    key,
    size: asset.bytes,
    width: asset.width,
    height: asset.height,
    // Cloudinary says jpg; the API (and the processor) say jpeg.
    format: asset.format === 'jpg' ? 'jpeg' : asset.format,
    version: asset.version,
  };
}

/** What the Admin API's resource listing answers (the fields read here). */
interface ResourcePage {
  resources?: { public_id: string; format: string; created_at: string }[];
  next_cursor?: string;
}

/** Our formats as Cloudinary names them: it says jpg where the API says jpeg. */
const CLOUDINARY_FORMAT: Record<DeliveryTransform['format'], string> = {
  auto: 'auto',
  avif: 'avif',
  webp: 'webp',
  jpeg: 'jpg',
  png: 'png',
  gif: 'gif',
};

/** Fully transparent, as Cloudinary spells colours: `rgb:` hex whose fourth byte is the alpha. */
const TRANSPARENT = 'rgb:00000000';

/**
 * A result made on request as Cloudinary URL transformations, in two components: the box and fit
 * (`c_fill` with `g_center` or `g_auto`; `c_pad` for contain, on white for JPEG, which has no
 * alpha, and transparent otherwise, as the service pads the results it makes; `c_limit` for
 * inside), then the format (`f_auto`: Cloudinary picks one per browser), then the quality, each a
 * component of its own as in a rendition's URL ({@link transformedUrl}): a preset asked for by
 * name is then the very URL of the rendition, one derived asset on Cloudinary, not two. The box
 * is already in device pixels and within the original: no `dpr_`.
 */
function deliveryTransformation(transform: DeliveryTransform): Record<string, unknown>[] {
  const fit =
    transform.fit === 'contain'
      ? { crop: 'pad', background: transform.format === 'jpeg' ? 'white' : TRANSPARENT }
      : CROP[transform.fit];
  return [
    { ...fit, width: transform.width, height: transform.height },
    { fetch_format: CLOUDINARY_FORMAT[transform.format] },
    { quality: transform.quality },
  ];
}

/** A transformation's box and fit as a Cloudinary crop. */
function cropOf(transform: ImageTransform) {
  return { ...CROP[transform.fit], width: transform.width, height: transform.height };
}

/** The SDK rejects with `{ error: { message, http_code } }`, a bare such object, or an Error. */
/**
 * What a failure of the SDK says, without what it carries besides: an Admin API error holds the
 * request's options, `auth` (`key:secret`) among them. Nothing logs a StorageError's cause
 * today; this keeps one that someday does from writing the secret.
 */
function withoutCredentials(error: unknown): Error {
  const plain = new Error(messageOf(error) ?? 'unknown error');
  plain.name = error instanceof Error ? error.name : 'CloudinaryError';
  const code = httpCode(error);
  return code === undefined ? plain : Object.assign(plain, { http_code: code });
}

function httpCode(error: unknown): number | undefined {
  const e = error as { http_code?: number; error?: { http_code?: number } } | null;
  return e?.http_code ?? e?.error?.http_code;
}

function messageOf(error: unknown): string | undefined {
  if (error instanceof Error) return error.message;
  const e = error as { message?: string; error?: { message?: string } } | null;
  return e?.message ?? e?.error?.message;
}
