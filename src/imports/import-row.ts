import { AppError, type FieldError } from '../common/errors/app.error';
import { validateInput } from '../common/http/validation';
import { decodeId } from '../common/ids/short-id';
import { normalizeGtin } from '../products/gtin';
import type { ProductRef } from '../products/products.service';
import { IMPORT_COLUMNS, ImportRowInputDto } from './dto/import.dto';
import { ImportRowStatus } from './entities/bulk-import-row.entity';

/** A row as it is stored on arrival: its values when valid, its problem otherwise. */
export interface NewImportRow {
  row_number: number;
  /** A CSV row's line (where its record starts); null for a JSON row. */
  line_number: number | null;
  status: ImportRowStatus;
  product_id: string | null;
  gtin: string | null;
  external_id: string | null;
  url: string | null;
  title: string | null;
  alt_text: string | null;
  is_primary: boolean | null;
  priority: number | null;
  problem_code: string | null;
  problem_message: string | null;
}

const PRODUCT_KEYS = ['product_id', 'gtin', 'external_id'] as const;
/** The fields whose values are text: a JSON row may give any of them another type. */
const TEXT_FIELDS: ReadonlySet<string> = new Set([
  ...PRODUCT_KEYS,
  'url',
  'title',
  'alt_text',
] satisfies (typeof IMPORT_COLUMNS)[number][]);
const MAX_MESSAGE = 1000;
/**
 * A row with more fields than this is refused by their number, unread: class-transformer copies
 * an object to its DTO in time that grows with the square of its fields, and a JSON row of 100,000
 * made-up fields (1 MiB) held the event loop, every request of the process with it, for seconds.
 * Far more than the columns, so that a row with a few unknown fields still has each named.
 */
export const MAX_ROW_FIELDS = 100;

/**
 * Checks one row as a client sent it (a JSON object, or a CSV record keyed by the header) and
 * returns it as stored: a valid row pending, with its product key normalised (the UUID, the
 * GTIN-14); an invalid one failed with `invalid_import_row` and every field's problem, keeping
 * none of its values. An invalid row fails alone: the import goes on. `lineNumber` is kept as it
 * is, valid row or not.
 */
export function importRow(
  rowNumber: number,
  raw: unknown,
  lineNumber: number | null = null,
): NewImportRow {
  const empty = {
    row_number: rowNumber,
    line_number: lineNumber,
    product_id: null,
    gtin: null,
    external_id: null,
    url: null,
    title: null,
    alt_text: null,
    is_primary: null,
    priority: null,
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ...empty, ...problem('the row must be an object') };
  }
  const fields = Object.keys(raw).length;
  if (fields > MAX_ROW_FIELDS) {
    return {
      ...empty,
      ...problem(`the row has ${fields} fields; its fields are: ${IMPORT_COLUMNS.join(', ')}`),
    };
  }
  const problems: string[] = [];
  const given = PRODUCT_KEYS.filter((key) => present((raw as Record<string, unknown>)[key]));
  if (given.length !== 1) {
    problems.push('give exactly one of product_id, gtin or external_id');
  }
  let row: ImportRowInputDto | undefined;
  try {
    row = validateInput(ImportRowInputDto, raw);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    problems.push(...fieldProblems(raw as Record<string, unknown>, error.errors));
  }
  if (!row || problems.length > 0) return { ...empty, ...problem(problems.join('; ')) };
  return {
    ...empty,
    status: ImportRowStatus.Pending,
    // A key given as null is one not given (JSON exporters write null for an empty column).
    product_id: present(row.product_id) ? (decodeId(row.product_id) ?? null) : null,
    gtin: present(row.gtin) ? (normalizeGtin(row.gtin) ?? null) : null,
    external_id: row.external_id ?? null,
    url: row.url,
    title: row.title ?? null,
    alt_text: row.alt_text ?? null,
    is_primary: row.is_primary ?? null,
    priority: row.priority ?? null,
    problem_code: null,
    problem_message: null,
  };
}

/**
 * A CSV record as a row (its cells trimmed by csvRecords unless quoted): empty cells are values
 * left out.
 */
export function csvRecordRow(record: Record<string, string>): Record<string, string> {
  const row: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value !== '') row[key] = value;
  }
  return row;
}

/** The product a stored row names. */
export function productRefOf(row: {
  productId: string | null;
  gtin: string | null;
  externalId: string | null;
}): ProductRef {
  if (row.productId) return { id: row.productId };
  if (row.gtin) return { gtin: row.gtin };
  return { externalId: row.externalId ?? '' };
}

/**
 * Each field's problems, in order, the field named once. A text field given another type (a GTIN
 * as a JSON number, a title as a list) says only that: its other rules (a check digit, a length)
 * are about text, and would name a cause that is not the one (a right check digit refused).
 */
function fieldProblems(raw: Record<string, unknown>, errors: FieldError[]): string[] {
  const messages = errors.map(({ field, message }) =>
    TEXT_FIELDS.has(field) && present(raw[field]) && typeof raw[field] !== 'string'
      ? `${field} must be a string`
      : fieldProblem(field, message),
  );
  return [...new Set(messages)];
}

/** `url is required`, `title must be shorter than …`: the field named once. */
function fieldProblem(field: string, message: string): string {
  return message.startsWith(`${field} `) ? message : `${field} ${message}`;
}

function present<T>(value: T | null | undefined): value is T {
  return value !== undefined && value !== null;
}

function problem(message: string) {
  return {
    status: ImportRowStatus.Failed,
    problem_code: 'invalid_import_row',
    problem_message: cleanMessage(message),
  };
}

/**
 * Field names come from the client: no control characters (PostgreSQL refuses NUL), bounded to
 * MAX_MESSAGE characters as the column counts them (code points). Never cut inside a character:
 * half a surrogate pair makes the batch's jsonb, and with it the whole import, refused.
 */
export function cleanMessage(message: string): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  return cutToLength(message.replace(/[\u0000-\u001f\u007f]/g, ''), MAX_MESSAGE);
}

/** The first `max` characters (code points, never half a surrogate pair) of `text`. Pure. */
export function cutToLength(text: string, max: number): string {
  // At most two UTF-16 units a character: a text this short has no more characters than that.
  return text.length <= max ? text : [...text].slice(0, max).join('');
}
