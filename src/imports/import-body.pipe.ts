import type { Readable } from 'node:stream';
import { Inject, Injectable, type PipeTransform } from '@nestjs/common';
import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../common/errors/app.error';
import { refuseIfClientGone } from '../common/http/client-gone';
import { formParts, multipartReadError } from '../common/http/multipart-errors';
import { csvRecords } from './csv-rows';
import { ImportFormat } from './entities/bulk-import.entity';
import { csvRecordRow } from './import-row';
import { IMPORTS_CONFIG, type ImportsConfig } from './imports.config';
import { isMediaType } from '../common/http/media-type';
import { DECODES_ITS_BODY } from '../common/http/content-encoding';
import { MULTIPART_OVERHEAD_BYTES } from '../common/http/multipart-routes';

/** The rows of a bulk import as they arrive, one at a time, and the form they came in. */
export interface ImportSource {
  format: ImportFormat;
  rows: AsyncIterable<unknown> | Iterable<unknown>;
  /**
   * A CSV's: the line of the file each row (the object `rows` gave) starts on, noted as it is
   * read. Kept beside the rows, not in them: the rows are what an Idempotency-Key's digest hashes.
   */
  lines?: WeakMap<object, number>;
}

/**
 * Route config of POST /api/v1/imports: the route that takes a `text/csv` body (streamed), and
 * decodes a gzip-compressed one itself (import-body-encoding.ts).
 */
export const BULK_IMPORT_BODY = { bulkImportBody: true, ...DECODES_ITS_BODY } as const;

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
      // The form's CSV within BULK_IMPORT_MAX_BYTES, and its other parts: a form announcing more
      // is refused unread, as a text/csv body is (it is no upload, bounded by MAX_UPLOAD_BYTES).
      const declared = Number(request.headers['content-length']);
      if (declared > this.maxBytes + MULTIPART_OVERHEAD_BYTES) throw tooLarge(this.maxBytes);
      const form = await this.multipartCsv(request).catch((error: unknown) => {
        throw multipartReadError(error);
      });
      const lines = new WeakMap<object, number>();
      const rows = multipartCsvRows(form, this.maxBytes, lines);
      return { format: ImportFormat.Csv, rows: thenReadmit(rows, request), lines };
    }
    if (isMediaType(type, 'text/csv')) {
      const declared = Number(request.headers['content-length']);
      if (declared > this.maxBytes) throw tooLarge(this.maxBytes);
      const lines = new WeakMap<object, number>();
      const rows = csvRows(request.body as Readable, this.maxBytes, lines);
      return { format: ImportFormat.Csv, rows: thenReadmit(rows, request), lines };
    }
    if (isMediaType(type, 'application/json')) {
      return { format: ImportFormat.Json, rows: jsonRows(request.body, this.maxRows) };
    }
    throw new AppError(
      'unsupported_media_type',
      'Send the rows as JSON {"rows": [...]}, as text/csv, or as a multipart/form-data CSV file ' +
        `named "${CSV_FILE_FIELD}".`,
    );
  }

  private get maxBytes(): number {
    return this.config.BULK_IMPORT_MAX_BYTES;
  }

  private get maxRows(): number {
    return this.config.BULK_IMPORT_MAX_ROWS;
  }

  /** The form's CSV file part (its text fields are ignored), and the parts after it. */
  private async multipartCsv(request: FastifyRequest): Promise<CsvForm> {
    refuseIfClientGone(request);
    const parts = formParts(request, {
      // One byte more than allowed, so that the CSV reader sees it and refuses the body.
      limits: { fileSize: this.maxBytes + 1, files: 1 },
      throwFileSizeLimit: false,
    });
    for (let next = await parts.next(); !next.done; next = await parts.next()) {
      const part = next.value;
      if (part.type !== 'file') continue;
      if (part.fieldname !== CSV_FILE_FIELD) {
        part.file.resume();
        throw new AppError('validation_failed', `Unexpected file field "${part.fieldname}".`, [
          {
            field: part.fieldname,
            message: `unexpected file; send the CSV as "${CSV_FILE_FIELD}"`,
          },
        ]);
      }
      return { file: part.file, after: parts };
    }
    throw new AppError('validation_failed', `Send the CSV as the file part "${CSV_FILE_FIELD}".`, [
      { field: CSV_FILE_FIELD, message: 'is required' },
    ]);
  }
}

/** A multipart import: its CSV file, and the form's parts after it, read once the CSV is. */
interface CsvForm {
  file: Readable;
  after: AsyncIterator<Multipart>;
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

async function* csvRows(
  source: Readable,
  maxBytes: number,
  lines: WeakMap<object, number>,
): AsyncGenerator<unknown> {
  for await (const { fields, line } of csvRecords(source, maxBytes)) {
    const row = csvRecordRow(fields);
    if (line !== null) lines.set(row, line);
    yield row;
  }
}

/**
 * The rows of a multipart form's CSV file, then the rest of the form: a second file is refused
 * (400 too_many_files; its rows are not quietly dropped), text fields are ignored. busboy fails
 * the file when the form is malformed after it (a body that ends before the form's closing
 * boundary): 400 invalid_multipart.
 */
async function* multipartCsvRows(
  form: CsvForm,
  maxBytes: number,
  lines: WeakMap<object, number>,
): AsyncGenerator<unknown> {
  try {
    yield* csvRows(form.file, maxBytes, lines);
    for (let next = await form.after.next(); !next.done; next = await form.after.next()) {
      if (next.value.type === 'file') {
        next.value.file.resume();
        throw tooManyFiles();
      }
    }
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    throw code === 'FST_FILES_LIMIT' ? tooManyFiles() : multipartReadError(error);
  }
}

function tooManyFiles(): AppError {
  return new AppError('too_many_files', `Send exactly one file, the CSV, as "${CSV_FILE_FIELD}".`, [
    { field: CSV_FILE_FIELD, message: 'only one file is accepted' },
  ]);
}

/**
 * The rows of a JSON import, parsed whole already: more than `maxRows` is refused here, before
 * an import is made for them (a CSV's rows are counted as they arrive, see ImportsService).
 */
function jsonRows(body: unknown, maxRows: number): unknown[] {
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
  if (rows.length > maxRows) throw importTooLarge(maxRows);
  return rows;
}

/** 413 import_too_large: more rows than BULK_IMPORT_MAX_ROWS. */
export function importTooLarge(maxRows: number): AppError {
  return new AppError('import_too_large', `An import has at most ${maxRows} rows: split it.`, [], {
    Connection: 'close',
  });
}

function tooLarge(maxBytes: number): AppError {
  return new AppError(
    'payload_too_large',
    `The CSV is larger than this endpoint accepts (${maxBytes} bytes).`,
    [],
    { Connection: 'close' },
  );
}
