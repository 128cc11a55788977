import { createWriteStream } from 'node:fs';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Multipart, MultipartFile, MultipartValue } from '@fastify/multipart';
import type { ClassConstructor } from 'class-transformer';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../common/errors/app.error';
import { refuseIfClientGone } from '../../common/http/client-gone';
import { codePointLength } from '../../common/http/max-length';
import { isMediaType } from '../../common/http/media-type';
import { MULTIPART_FIELD_BYTES, multipartRequired } from '../../common/http/multipart-routes';
import { formParts, multipartReadError } from '../../common/http/multipart-errors';
import { validateInput } from '../../common/http/validation';
import { type UploadImageFieldsDto } from '../dto/upload-image.dto';
import { RequestSpool, spoolWriteProblem } from './upload-spool';

/** A file received in a multipart upload, spooled to a temporary file. */
export interface ReceivedFile {
  path: string;
  size: number;
  /** The client's file name, for the record only; never used to build a path or a key. */
  filename: string;
  /**
   * Aborted once the upload's client has gone, its answer unsent (FastifyRequest.clientGone):
   * what is made of the file (an SVG's check and render) is then ended. Carried with the file,
   * which every route's upload hands on as it is.
   */
  signal?: AbortSignal;
}

/** A multipart image upload: the spooled file and its validated text fields. */
export interface ImageUpload<Fields = UploadImageFieldsDto> {
  file: ReceivedFile;
  fields: Fields;
}

/** The route's file limit, and how its form differs from the main API's. */
export interface ImageUploadOptions {
  /** The file limit in bytes: MAX_UPLOAD_BYTES, or a route's own where lower. */
  maxFileBytes: number;
  /**
   * The parts as the service reads them, from the parts as a compatible API's client sends them
   * (its own file field name, fields to ignore).
   */
  translateParts?: (parts: AsyncIterable<Multipart>) => AsyncIterable<Multipart>;
}

/** The longest file name kept, in characters as its column counts them (code points). */
const MAX_FILENAME_LENGTH = 255;
/**
 * What a shown name must not hold: control characters (C0, DEL, C1), which corrupt logs and
 * headers; the bidi controls (with which "\u202egnp.exe" shows as "exe.png"), the zero-width
 * space, the word joiners and the BOM, invisible; line and paragraph separators; the
 * noncharacters U+FFFE and U+FFFF; and lone surrogates, which no UTF-8 text holds. The zero-width
 * joiners stay: emoji sequences (👨‍🍳) and Persian or Indic spelling need them.
 */
const UNSHOWABLE =
  /[\p{Cc}\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u2028\u2029\ufffe\uffff\uD800-\uDFFF]/gu;
/** An extension worth keeping when a long name is cut: a dot, then up to 15 letters or digits. */
const EXTENSION = /\.[\p{L}\p{N}]{1,15}$/u;

/**
 * A name safe to show back: the last path segment, composed (NFC), without what UNSHOWABLE
 * lists, at most 255 characters: a longer one is cut before its extension, which it keeps, and
 * never inside a character. Pure.
 */
export function cleanFilename(name: string | undefined): string {
  const clean = basename((name ?? '').replace(/\\/g, '/'))
    .normalize('NFC')
    .replace(UNSHOWABLE, '');
  if (codePointLength(clean) <= MAX_FILENAME_LENGTH) return clean;
  const extension = EXTENSION.exec(clean)?.[0] ?? '';
  const kept = MAX_FILENAME_LENGTH - codePointLength(extension);
  return [...clean].slice(0, kept).join('') + extension;
}

/**
 * Reads a multipart upload as a stream: text fields, validated as `fieldsType`, and exactly one
 * file part named `image`, written to a temporary file of the request's spool (see RequestSpool:
 * it is removed when the request is over) while @fastify/multipart counts its bytes (never
 * buffered whole). A file over the limit is answered 413 `file_too_large` the moment it crosses
 * the limit, without reading the rest of the body. A missing image and invalid fields are
 * reported together, each by its field.
 */
export async function readImageUpload<Fields extends object>(
  request: FastifyRequest,
  tmpDir: string,
  fieldsType: ClassConstructor<Fields>,
  options: ImageUploadOptions,
): Promise<ImageUpload<Fields>> {
  if (!request.isMultipart()) throw multipartRequired();
  const { file, fields } = await readParts(request, tmpDir, options);
  // The body may have taken minutes: a key revoked or a user logged out meanwhile stops it here,
  // before anything is made of it (the spool is removed as the request ends).
  await request.readmit?.();
  if (file && request.clientGone) file.signal = request.clientGone;
  return validatedUpload(file, fields, fieldsType);
}

/** The form's parts: its text fields, and its one file spooled. */
async function readParts(
  request: FastifyRequest,
  tmpDir: string,
  options: ImageUploadOptions,
): Promise<{ file?: ReceivedFile; fields: Record<string, string> }> {
  const spool = RequestSpool.of(request);
  const fields: Record<string, string> = {};
  let file: ReceivedFile | undefined;
  refuseIfClientGone(request);
  try {
    const received = formParts(request, { limits: { fileSize: options.maxFileBytes } });
    for await (const part of options.translateParts?.(received) ?? received) {
      if (part.type === 'file') {
        const newPath = () => spool.create(tmpDir, '.upload');
        file = await spoolFile(part, file, newPath, options.maxFileBytes);
      } else addField(fields, part);
    }
  } catch (error) {
    // The spool's disk full or its folder unusable: the service's condition (503), not a
    // malformed body.
    const spoolFailure = spoolWriteProblem(error);
    if (spoolFailure !== error) throw spoolFailure;
    throw multipartReadError(error);
  }
  return { file, fields };
}

/** The one file part, `image`, written to a new file of the request's spool. */
async function spoolFile(
  part: MultipartFile,
  already: ReceivedFile | undefined,
  newPath: () => Promise<string>,
  maxBytes: number,
): Promise<ReceivedFile> {
  if (part.fieldname !== 'image') {
    part.file.resume();
    throw new AppError('validation_failed', `Unexpected file field "${part.fieldname}".`, [
      { field: part.fieldname, message: 'unexpected file; send the image as "image"' },
    ]);
  }
  if (already) {
    part.file.resume();
    throw new AppError('too_many_files', 'Send exactly one file, as "image".', [
      { field: 'image', message: 'only one file is accepted' },
    ]);
  }
  const path = await newPath().catch((error: unknown) => {
    part.file.resume(); // the rest of the part read and dropped, so that the body can end
    throw error;
  });
  const size = await spoolWithinLimit(part.file, path, maxBytes);
  return { path, size, filename: cleanFilename(part.filename) };
}

function addField(fields: Record<string, string>, part: MultipartValue): void {
  // A part is a file only with a filename in its Content-Disposition: without one, the image's
  // bytes came as text, and were judged as text (a JPEG's NUL bytes, "not allowed").
  if (part.fieldname === 'image') {
    throw new AppError(
      'image_required',
      'The image was sent as a text field: send it as a file (a part with a filename).',
      [{ field: 'image', message: 'must be a file part, with a filename' }],
    );
  }
  if (Object.hasOwn(fields, part.fieldname)) {
    throw new AppError('validation_failed', `Field "${part.fieldname}" was sent twice.`, [
      { field: part.fieldname, message: 'sent more than once' },
    ]);
  }
  // @fastify/multipart parses a text part typed application/json and gives its value, not its
  // text (`{"en": "Front"}` an object, `"Front"` without its quotes): what was sent is lost, so
  // such a part is refused rather than stored as something else.
  if (typeof part.value !== 'string' || isMediaType(part.mimetype, 'application/json')) {
    throw new AppError('validation_failed', `Field "${part.fieldname}" was sent as JSON.`, [
      { field: part.fieldname, message: 'send it as text, not as application/json' },
    ]);
  }
  // Past MULTIPART_FIELD_BYTES the reader cuts the value and says so: stored cut, it would end
  // mid-character, for a field within its own limit in characters.
  if (part.valueTruncated) {
    throw new AppError('validation_failed', `Field "${part.fieldname}" is too long.`, [
      { field: part.fieldname, message: `must be at most ${MULTIPART_FIELD_BYTES} bytes` },
    ]);
  }
  fields[part.fieldname] = part.value;
}

/** The upload, once its file is there and its fields valid; both problems reported together. */
function validatedUpload<Fields extends object>(
  file: ReceivedFile | undefined,
  fields: Record<string, string>,
  fieldsType: ClassConstructor<Fields>,
): ImageUpload<Fields> {
  let validated: Fields | undefined;
  let invalid: AppError | undefined;
  try {
    validated = validateInput(fieldsType, fields);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    invalid = error;
  }
  if (!file || file.size === 0) {
    const missing = { field: 'image', message: file ? 'is empty' : 'is required' };
    if (invalid) {
      throw new AppError(
        'validation_failed',
        `Invalid value for: image, ${invalidFields(invalid)}.`,
        [missing, ...invalid.errors],
      );
    }
    throw new AppError(
      'image_required',
      file ? 'The image file is empty.' : 'An image file is required.',
      [missing],
    );
  }
  if (invalid || !validated) throw invalid ?? new Error('unreachable');
  return { file, fields: validated };
}

/**
 * Writes an uploaded file to `path`; returns its size. @fastify/multipart stops counting a file
 * at the limit but reads the rest of its part (the rest of a 500 MB body) before it ends: the
 * 'limit' event is the moment to stop instead, and answer with `Connection: close` so that the
 * remaining bytes are never read.
 */
async function spoolWithinLimit(
  file: Readable & { truncated?: boolean },
  path: string,
  maxBytes: number,
): Promise<number> {
  const sink = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  const limit = new AbortController();
  const overLimit = () => limit.abort(fileTooLarge(maxBytes));
  file.once('limit', overLimit);
  try {
    if (file.truncated) overLimit();
    await pipeline(file, sink, { signal: limit.signal });
  } catch (error) {
    throw limit.signal.aborted ? (limit.signal.reason as AppError) : error;
  } finally {
    file.off('limit', overLimit);
  }
  if (file.truncated) throw fileTooLarge(maxBytes);
  return sink.bytesWritten;
}

function fileTooLarge(maxBytes: number): AppError {
  return new AppError(
    'file_too_large',
    `The file is larger than the upload limit (${maxBytes} bytes).`,
    [{ field: 'image', message: 'is larger than the upload limit' }],
    { Connection: 'close' },
  );
}

function invalidFields(error: AppError): string {
  return [...new Set(error.errors.map((e) => e.field))].join(', ');
}
