import { Injectable, type PipeTransform } from '@nestjs/common';
import { IdempotencyService } from './idempotency.service';
import { currentAttempt } from './idempotent-attempt';
import { RowsDigest, uploadDigest, type SpooledUpload } from './payload-digest';

/**
 * The last pipe of an idempotent multipart upload's body: once the upload is spooled and its
 * fields valid, the request's Idempotency-Key is admitted with the upload's digest, before the
 * route's work (or refused, or answered with the recorded answer). Takes an upload, a value
 * holding one as `upload` (a gallery addition), or a spooled file alone (a form of one file and no
 * field: the back-office uploader's); a value a JSON body made was admitted already.
 *
 * `@MultipartRequest(ImageUploadPipe, IdempotentUpload) upload: ImageUpload`
 */
@Injectable()
export class IdempotentUpload implements PipeTransform {
  constructor(private readonly idempotency: IdempotencyService) {}

  async transform<T extends object>(value: T): Promise<T> {
    const attempt = currentAttempt();
    if (attempt?.state !== 'open') return value;
    const upload = spooledUploadIn(value);
    if (!upload) throw new Error('IdempotentUpload: the parameter holds no spooled upload');
    await this.idempotency.admit(attempt, await uploadDigest(upload));
    return value;
  }
}

/** A bulk import's rows as they arrive, one at a time, and the form they came in. */
export interface RowsSource {
  format: string;
  rows: AsyncIterable<unknown> | Iterable<unknown>;
}

/**
 * The last pipe of an idempotent bulk import's body. A CSV is read by the work itself, as it
 * arrives: its key is claimed before the first row is read, and its digest (of the rows) is
 * known, and recorded with the answer, once the import has read them all. A retry whose key was
 * answered reads its rows without importing them, to compare them with the first request's.
 *
 * `@MultipartRequest(ImportBodyPipe, IdempotentRows) source: ImportSource`
 */
@Injectable()
export class IdempotentRows implements PipeTransform {
  constructor(private readonly idempotency: IdempotencyService) {}

  async transform<T extends RowsSource>(source: T): Promise<T> {
    const attempt = currentAttempt();
    if (attempt?.state !== 'open') return source;
    const digest = new RowsDigest(source.format);
    const rows = digest.wrap(source.rows);
    await this.idempotency.admit(attempt, digest);
    return { ...source, rows };
  }
}

function spooledUploadIn(value: object): SpooledUpload | undefined {
  const candidate: unknown = 'upload' in value ? value.upload : value;
  if (isSpooledUpload(candidate)) return candidate;
  // A form of one file and no field (the back-office uploader's): the file alone.
  return isSpooledFile(candidate) ? { file: candidate, fields: {} } : undefined;
}

function isSpooledFile(value: unknown): value is SpooledUpload['file'] {
  const file = value as { path?: unknown; filename?: unknown } | null;
  return typeof file?.path === 'string' && typeof file.filename === 'string';
}

function isSpooledUpload(value: unknown): value is SpooledUpload {
  const file = (value as { file?: { path?: unknown; filename?: unknown } } | null)?.file;
  const fields = (value as { fields?: unknown } | null)?.fields;
  return (
    typeof file?.path === 'string' &&
    typeof file.filename === 'string' &&
    typeof fields === 'object' &&
    fields !== null
  );
}
