import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { AppError } from '../../../common/errors/app.error';
import { parseList } from '../../../config/env-values';
import { IMAGES_CONFIG, type ImagesConfig } from '../../images.config';
import {
  releaseSpoolFile,
  spoolWriteProblem,
  trackSpoolFile,
  uploadTempDir,
} from '../upload-spool';
import { cleanFilename } from '../multipart-upload';
import { isDataUri, parseDataUri } from './data-uri';
import { dataUriProblem, imageTooLarge } from './import-errors';
import { takeSpooledDataUri } from './spooled-data-uris';
import {
  safeFetch,
  UrlFetchError,
  UrlFetchTooLargeError,
  type SafeFetchOptions,
} from './safe-fetch';

/** An image given as a data URI or a URL, spooled to a temporary file. */
export interface ImportedFile {
  path: string;
  /** The type a data URI declared; the bytes must agree. Undefined for URLs (bytes decide). */
  declaredType?: string;
  /** The URL's last path segment, for the record; empty for a data URI. */
  filename: string;
}

/** Redirects followed when importing from a URL, each checked again in full. */
export const IMPORT_MAX_REDIRECTS = 3;

/**
 * Brings an image given in JSON (the Ocha API's `image`: a `data:image/…;base64,…` URI or an http(s)
 * URL) into a temporary file for the processor. URLs are fetched by {@link safeFetch}, safe
 * against server-side request forgery; every way a fetch can fail, and an answer with no body
 * (a 204, an empty 200), is one answer to the client (400 image_url_unreachable), so the endpoint
 * cannot be used to scan ports or networks, and the real reason goes to the log.
 */
@Injectable()
export class ImageImportService {
  private readonly logger = new Logger(ImageImportService.name);
  private readonly tmpDir: string;
  private readonly maxBytes: number;
  private readonly fetchOptions: SafeFetchOptions;

  constructor(@Inject(IMAGES_CONFIG) config: ImagesConfig) {
    this.tmpDir = uploadTempDir(config);
    this.maxBytes = config.MAX_UPLOAD_BYTES;
    this.fetchOptions = {
      maxBytes: config.MAX_UPLOAD_BYTES,
      timeoutMs: config.IMPORT_TIMEOUT_MS,
      maxRedirects: IMPORT_MAX_REDIRECTS,
      allowedPorts: parseList(config.IMPORT_ALLOWED_PORTS).map(Number),
      allowedPrivateOrigins: parseList(config.IMPORT_ALLOWED_PRIVATE_ORIGINS),
      allowPrivateNetworks: config.IMPORT_ALLOW_PRIVATE_NETWORKS,
    };
    if (
      config.IMPORT_ALLOW_PRIVATE_NETWORKS ||
      this.fetchOptions.allowedPrivateOrigins.length > 0
    ) {
      this.logger.warn(
        'Image URLs may reach private networks (IMPORT_ALLOW_PRIVATE_NETWORKS / ' +
          'IMPORT_ALLOWED_PRIVATE_ORIGINS): a test-only setting',
      );
    }
  }

  /**
   * Runs `work` with the image in a temporary file, and removes the file afterwards whatever
   * happens. A data URI has usually been decoded into a file by the body parser already (see
   * data-uri-body.parser): `source` is then the token that stands for that file.
   */
  async withFile<T>(source: string, work: (file: ImportedFile) => Promise<T>): Promise<T> {
    const spooled = takeSpooledDataUri(source);
    let path = spooled?.path;
    try {
      if (spooled) {
        return await work({ path: spooled.path, declaredType: spooled.declaredType, filename: '' });
      }
      path = trackSpoolFile(join(this.tmpDir, `${randomUUID()}.import`));
      const file = await this.spool(source, path).catch((error: unknown) => {
        throw spoolWriteProblem(error);
      });
      return await work(file);
    } finally {
      if (path) await releaseSpoolFile(path);
    }
  }

  /** The image in a new file of the spool at `path`. */
  private async spool(source: string, path: string): Promise<ImportedFile> {
    await mkdir(this.tmpDir, { recursive: true });
    return isDataUri(source)
      ? this.fromDataUri(source, path)
      : this.fromUrl(checkedUrl(source), path);
  }

  /** A data URI held whole in memory (the body parser streams those of HTTP requests). */
  private async fromDataUri(source: string, path: string): Promise<ImportedFile> {
    let image;
    try {
      image = parseDataUri(source, this.maxBytes);
    } catch (error) {
      throw dataUriProblem(error);
    }
    await writeFile(path, image.data, { flag: 'wx', mode: 0o600 });
    return { path, declaredType: image.declaredType, filename: '' };
  }

  private async fromUrl(source: string, path: string): Promise<ImportedFile> {
    try {
      const result = await safeFetch(source, path, this.fetchOptions);
      // A 204, or a 2xx with a body of no bytes: the URL gave no image at all, which is the URL's
      // fault as a 404 is, not a file of the wrong type.
      if (result.bytes === 0) throw new UrlFetchError('empty-body', 'The URL answered no body');
      return { path, filename: filenameOf(result.finalUrl) };
    } catch (error) {
      if (error instanceof UrlFetchTooLargeError) throw imageTooLarge(this.maxBytes);
      if (error instanceof UrlFetchError) {
        // The origin only: a query string may carry a signature or a token.
        this.logger.warn({ reason: error.reason, origin: originOf(source) }, 'Image URL refused');
        throw new AppError(
          'image_url_unreachable',
          'The image could not be fetched from this URL. It must be a public http(s) URL on an ' +
            `allowed port that answers with the image within ${this.fetchOptions.timeoutMs} ms.`,
          [{ field: 'image', message: 'could not be fetched' }],
        );
      }
      throw error;
    }
  }
}

/**
 * An image given in JSON is a data URI or an http(s) URL; anything else (another scheme, a bare
 * path, a file name, `http://[` or another string no URL parser reads) is refused as such before
 * any fetch, rather than as an unreachable URL.
 */
function checkedUrl(source: string): string {
  const isUrl = /^https?:\/\//i.test(source) && URL.canParse(source);
  // A URL parser drops tabs and line breaks wherever they are (…/s<TAB>hoe.png is fetched as
  // …/shoe.png): the image would come from another URL than the one given and recorded. Refused,
  // as bulk imports refuse them, with the other control characters.
  if (isUrl && /\p{Cc}/u.test(source)) {
    throw new AppError(
      'invalid_image_source',
      'The image URL must not hold tabs, line breaks or other control characters.',
      [{ field: 'image', message: 'holds a tab, line break or other control character' }],
    );
  }
  if (isUrl) return source;
  throw new AppError(
    'invalid_image_source',
    'The image must be a data:image/<type>;base64 URI or an http(s) URL.',
    [{ field: 'image', message: 'is neither a data URI nor an http(s) URL' }],
  );
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(not a URL)';
  }
}

function filenameOf(url: string): string {
  try {
    const segment = new URL(url).pathname.split('/').pop() ?? '';
    return cleanFilename(decodeURIComponent(segment));
  } catch {
    return '';
  }
}
