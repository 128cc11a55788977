import type { Readable } from 'node:stream';
import { Inject, Injectable, type PipeTransform } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../common/errors/app.error';
import { refuseIfClientGone } from '../common/http/client-gone';
import { multipartReadError } from '../common/http/multipart-errors';
import { csvRecords } from './csv-rows';
import { ImportFormat } from './entities/bulk-import.entity';
import { csvRecordRow } from './import-row';
import { IMPORTS_CONFIG, type ImportsConfig } from './imports.config';
import { isMediaType } from '../common/http/media-type';

/** The rows of a bulk import as they arrive, one at a time, and the form they came in. */
export interface ImportSource {
  format: ImportFormat;
  rows: AsyncIterable<unknown> | Iterable<unknown>;
}

/** Route config of POST /api/v1/imports: the route that takes a `text/csv` body (streamed). */
export const BULK_IMPORT_BODY = { bulkImportBody: true } as const;

/** The part of a multipart body that holds the CSV. */
export const CSV_FILE_FIELD = 'file';

/**
 * `POST /api/v1/imports` takes three bodies (Nest cannot route by content type): JSON
 * `{ "rows": [...] }` (parsed whole, within JSON_BODY_LIMIT_BYTES), a `text/csv` body, or a
 * multipart form with the CSV as its `file` part. A CSV is read as it arrives, never held whole,
 * within BULK_IMPORT_MAX_BYTES. Only the body's shape is checked here: each row on its own later.
 */
@Injectable()
export class ImportBodyPipe implements PipeTransform<FastifyRequest, Promise<ImportSource>> {
  constructor(@Inject(IMPORTS_CONFIG) private readonly config: ImportsConfig) {}

  async transform(request: FastifyRequest): Promise<ImportSource> {
    const type = request.headers['content-type'] ?? '';
    if (request.isMultipart()) {
      const file = await this.multipartCsv(request).catch((error: unknown) => {
        throw multipartReadError(error);
      });
      const rows = multipartCsvRows(file, this.maxBytes);
      return { format: ImportFormat.Csv, rows: thenReadmit(rows, request) };
    }
    if (isMediaType(type, 'text/csv')) {
      const declared = Number(request.headers['content-length']);
      if (declared > this.maxBytes) throw tooLarge(this.maxBytes);
      const rows = csvRows(request.body as Readable, this.maxBytes);
      return { format: ImportFormat.Csv, rows: thenReadmit(rows, request) };
    }
    if (isMediaType(type, 'application/json'))
      return { format: ImportFormat.Json, rows: jsonRows(request.body) };
    throw new AppError(
      'unsupported_media_type',
      'Send the rows as JSON {"rows": [...]}, as text/csv, or as a multipart/form-data CSV file ' +
        `named "${CSV_FILE_FIELD}".`,
    );
  }

  private get maxBytes(): number {
    return this.config.BULK_IMPORT_MAX_BYTES;
  }

  /** The form's CSV file part (the first file; text fields before it are ignored). */
  private async multipartCsv(request: FastifyRequest): Promise<Readable> {
    refuseIfClientGone(request);
    const part = await request.file({
      // One byte more than allowed, so that the CSV reader sees it and refuses the body.
      limits: { fileSize: this.maxBytes + 1, files: 1 },
      throwFileSizeLimit: false,
    });
    if (!part) {
      throw new AppError(
        'validation_failed',
        `Send the CSV as the file part "${CSV_FILE_FIELD}".`,
        [{ field: CSV_FILE_FIELD, message: 'is required' }],
      );
    }
    if (part.fieldname !== CSV_FILE_FIELD) {
      part.file.resume();
      throw new AppError('validation_failed', `Unexpected file field "${part.fieldname}".`, [
        { field: part.fieldname, message: `unexpected file; send the CSV as "${CSV_FILE_FIELD}"` },
      ]);
    }
    return part.file;
  }
}

/**
 * The rows, then the caller asked again (request.readmit) once the last has arrived: a CSV of
 * 64 MiB may take minutes, and a key revoked meanwhile makes no import.
 */
async function* thenReadmit(
  rows: AsyncGenerator<unknown>,
  request: FastifyRequest,
): AsyncGenerator<unknown> {
  yield* rows;
  await request.readmit?.();
}

async function* csvRows(source: Readable, maxBytes: number): AsyncGenerator<unknown> {
  for await (const record of csvRecords(source, maxBytes)) yield csvRecordRow(record);
}

/**
 * The rows of a multipart form's CSV file. busboy fails the file when the form is malformed
 * after it (a body that ends before the form's closing boundary): 400 invalid_multipart.
 */
async function* multipartCsvRows(file: Readable, maxBytes: number): AsyncGenerator<unknown> {
  try {
    yield* csvRows(file, maxBytes);
  } catch (error) {
    throw multipartReadError(error);
  }
}

function jsonRows(body: unknown): unknown[] {
  const keys = typeof body === 'object' && body !== null ? Object.keys(body) : [];
  const rows = (body as { rows?: unknown } | null)?.rows;
  if (Array.isArray(body) || !Array.isArray(rows) || keys.some((key) => key !== 'rows')) {
    throw new AppError('validation_failed', 'The body must be {"rows": [...]}.', [
      { field: 'rows', message: 'must be a list of rows, the only member of the body' },
    ]);
  }
  if (rows.length === 0) {
    throw new AppError('validation_failed', 'The import has no rows.', [
      { field: 'rows', message: 'must not be empty' },
    ]);
  }
  return rows;
}

function tooLarge(maxBytes: number): AppError {
  return new AppError(
    'payload_too_large',
    `The CSV is larger than this endpoint accepts (${maxBytes} bytes).`,
    [],
    { Connection: 'close' },
  );
}
