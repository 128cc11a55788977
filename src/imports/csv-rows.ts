import { finished, pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { CsvError, parse, type InfoRecord, type Options } from 'csv-parse';
import { AppError } from '../common/errors/app.error';
import { IMPORT_COLUMNS } from './dto/import.dto';
import { cutToLength } from './import-row';

/** A record longer than this is a malformed CSV (a quote never closed swallows the file). */
const MAX_RECORD_BYTES = 64 * 1024;
/**
 * No valid record has more fields than there are columns: each may be named once. csv-parse's
 * record size counts the characters of fields, not their separators, so a line of ten million
 * commas would otherwise be parsed whole into ten million empty strings (gigabytes, seconds of a
 * blocked event loop) before it is refused.
 */
const MAX_FIELDS = IMPORT_COLUMNS.length;
const PRODUCT_COLUMNS = ['product_id', 'gtin', 'external_id'];
/** Once a body is refused part-way, the rest is not read: the connection is closed instead. */
const CLOSE = { Connection: 'close' };

/** A record as csv-parse gives it with `info`: its fields, where it ends, and where it starts. */
interface ParsedRecord {
  record: string[];
  info: { lines: number };
  line: number | null;
}

/** A record of the CSV after its header: its fields by column, and the line it starts on. */
export interface CsvRecord {
  fields: Record<string, string>;
  /**
   * From 1, the header's lines included: a quoted cell's line breaks and blank lines count. Null
   * only should csv-parse end a record where FieldCount saw none end (not known to happen).
   */
  line: number | null;
}

/**
 * The records of a CSV arriving as a stream (a `text/csv` body, or a multipart file), keyed by
 * the header's column names, read with csv-parse one record at a time: the consumer's pace is the
 * stream's (backpressure), so no more than a few records are ever held. `source` is only piped
 * from, never destroyed: the request must stay open for the answer.
 *
 * The header names the columns (any order, any case): `url`, at least one of `product_id`,
 * `gtin` and `external_id`, and any of `title`, `alt_text`, `is_primary`, `priority`. An unknown
 * or repeated column, a missing one, a quote never closed or a record with another number of
 * fields than the header is `400 invalid_csv`; more than `maxBytes`, `413 payload_too_large`.
 * Each record comes with the line of the file it starts on (FieldCount notes them).
 */
export async function* csvRecords(source: Readable, maxBytes: number): AsyncGenerator<CsvRecord> {
  const fields: FieldCount = new FieldCount(MAX_FIELDS, () => parser.info.bytes);
  const limit = new ByteLimit(maxBytes, fields);
  // The header's number of fields, noted as csv-parse makes the header: a record refused right
  // after it fails the parser before the loop below has been handed the header.
  let headerFields: number | undefined;
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    // Any line break ends a record, as FieldCount reads them: csv-parse would otherwise take the
    // first one it meets for all (a header file in CRLF joined to rows in LF was one long record).
    record_delimiter: ['\r\n', '\n', '\r'],
    // A cell is trimmed (`url, gtin` from a spreadsheet gives ` https://…`) unless quoted: the
    // quotes say its spaces are part of it (an external id is compared exactly).
    cast: (value, context) => (context.quoting ? value : value.trim()),
    // A `"` inside a field that does not start with one is text: `Monitor 27" wide`.
    relax_quotes: true,
    max_record_size: MAX_RECORD_BYTES,
    // A line of nothing but blanks or commas (a spreadsheet's trailing `,,,`, a line of spaces)
    // is skipped as an empty one is. csv-parse compares a record's length with the header's
    // before it skips such a record, so short ones are let through and refused below instead.
    skip_records_with_empty_values: true,
    relax_column_count_less: true,
    info: true,
    // Called as the record is made (the bytes after it may be scanned already, not yet parsed):
    // `bytes` is where it ends, after its line break, which FieldCount saw start on its line.
    // (Typed as giving what it is given, a string[]: csv-parse's types know no `info`.)
    on_record: ((parsed: Omit<ParsedRecord, 'line'>, context: InfoRecord): ParsedRecord => {
      headerFields ??= parsed.record.length;
      return { ...parsed, line: fields.startLine(context.bytes) };
    }) as unknown as Options['on_record'],
  });
  source.pipe(limit);
  // Also when `source` failed or closed before this was called (busboy fails a multipart file as
  // soon as the form's body ends early, before the file is read): pipe() alone would then wait.
  const stopWatching = finished(source, { writable: false }, (error) => {
    if (!error) return;
    // Closed before its end: the client hung up (its error, not the service's).
    const premature = (error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE';
    limit.destroy(premature ? Object.assign(new Error('aborted'), { code: 'ECONNRESET' }) : error);
  });
  pipeline(limit, parser, () => undefined);
  let columns: string[] | undefined;
  try {
    for await (const { record, info, line } of parser as AsyncIterable<ParsedRecord>) {
      if (!columns) {
        columns = checkedHeader(record);
        continue;
      }
      if (record.length < columns.length) {
        throw invalidCsv(wrongFieldCount(line ?? info.lines, record.length, columns.length));
      }
      const row: Record<string, string> = {};
      columns.forEach((name, i) => (row[name] = record[i]));
      yield { fields: row, line };
    }
  } catch (error) {
    if (error instanceof CsvError) throw invalidCsv(refusal(error, fields, headerFields));
    // The client hung up mid-body: its answer goes nowhere, but it is a client's outcome (400),
    // not the 500 of a fault the service would log and count.
    if ((error as { code?: unknown }).code === 'ECONNRESET') {
      throw invalidCsv('The CSV ended early: the connection closed before the body did.');
    }
    throw error;
  } finally {
    stopWatching();
    source.unpipe(limit);
  }
  if (!columns) throw invalidCsv('The CSV is empty: its first line must name the columns.');
}

/**
 * What csv-parse refused, in the API's words, naming the line the record starts on: csv-parse's
 * own name the line it had read to (the last of a quoted cell's lines, the end of the file for a
 * quote never closed). Its error tells the byte it was at (`bytes`): after the record, for one of
 * another number of fields, otherwise inside it.
 */
function refusal(error: CsvError, fields: FieldCount, headerFields: number | undefined): string {
  const { bytes, record } = error as CsvError & { bytes?: unknown; record?: unknown };
  const at = typeof bytes === 'number' ? bytes : Number.MAX_SAFE_INTEGER;
  switch (error.code) {
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const got = Array.isArray(record) ? record.length : 0;
      return wrongFieldCount(fields.refusedLine(at, true), got, headerFields ?? 0);
    }
    case 'CSV_QUOTE_NOT_CLOSED':
      return (
        `Line ${fields.refusedLine(at, false)} opens a quoted cell that is never closed: ` +
        'the file ends inside it. A cell that starts with " ends with " (a " inside it is written "").'
      );
    case 'CSV_MAX_RECORD_SIZE':
      return (
        `Line ${fields.refusedLine(at, false)} starts a row longer than ${MAX_RECORD_BYTES} bytes: ` +
        'a quoted cell never closed, or a cell far too long.'
      );
    default:
      return `Line ${fields.refusedLine(at, false)} is not a valid CSV row.`;
  }
}

function wrongFieldCount(line: number, got: number, expected: number): string {
  return (
    `Line ${line} has ${got} field${got === 1 ? '' : 's'} where the header names ${expected} ` +
    'columns: a row has a cell for each (an empty one is written ,,; a comma in a cell is ' +
    'quoted).'
  );
}

function checkedHeader(record: string[]): string[] {
  const names = record.map((name) => name.trim().toLowerCase());
  const known: readonly string[] = IMPORT_COLUMNS;
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    // At most MAX_FIELDS of them (FieldCount), each quoted cut short (between characters).
    const shown = unknown.map((name) => JSON.stringify(cutToLength(name, 100)));
    throw invalidCsv(
      `Unknown column(s) in the header: ${shown.join(', ')}. ` +
        `The columns are: ${IMPORT_COLUMNS.join(', ')}.${separatorHint(unknown)}`,
    );
  }
  const repeated = names.filter((name, i) => names.indexOf(name) !== i);
  if (repeated.length > 0) throw invalidCsv(`Column(s) named twice: ${repeated.join(', ')}.`);
  if (!names.includes('url')) throw invalidCsv('The header has no url column.');
  if (!names.some((name) => PRODUCT_COLUMNS.includes(name))) {
    throw invalidCsv('The header names no product column (product_id, gtin or external_id).');
  }
  return names;
}

/** Separators spreadsheets use for "CSV" in some locales (Excel: `;` where `,` is the decimal). */
const OTHER_SEPARATORS = [';', '\t'];

/**
 * A header read as one column `gtin;url;title`: the file is separated by something else than
 * commas (a spreadsheet's CSV in a locale with decimal commas), which the list of columns alone
 * does not tell.
 */
function separatorHint(unknown: string[]): string {
  const used = OTHER_SEPARATORS.find((separator) =>
    unknown.some((name) => name.includes(separator)),
  );
  return used === undefined
    ? ''
    : ` The columns must be separated by commas; this header seems to use ${JSON.stringify(used)}.`;
}

function invalidCsv(detail: string): AppError {
  return new AppError('invalid_csv', detail, [], CLOSE);
}

/**
 * Counts the bytes that pass, and refuses more than `limit` (413 payload_too_large) and bytes that
 * are not UTF-8 (400 invalid_csv): a spreadsheet saved in Windows-1252 would otherwise import with
 * every accented title turned to U+FFFD, and no word of it.
 */
class ByteLimit extends Transform {
  private bytes = 0;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  constructor(
    private readonly limit: number,
    private readonly fields: FieldCount,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const start = this.bytes;
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      return done(
        new AppError(
          'payload_too_large',
          `The CSV is larger than this endpoint accepts (${this.limit} bytes).`,
          [],
          CLOSE,
        ),
      );
    }
    if (!this.decodes(chunk)) return done(notUtf8(`within bytes ${start} to ${this.bytes}`));
    if (!this.fields.scan(chunk)) {
      return done(
        invalidCsv(
          `Line ${this.fields.recordStartLine} has more than ${MAX_FIELDS} fields: an import has at most ` +
            `one per column (${IMPORT_COLUMNS.join(', ')}).`,
        ),
      );
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.fields.end();
    done(this.decodes() ? null : notUtf8('at its end (a character cut short)'));
  }

  private decodes(chunk?: Buffer): boolean {
    try {
      this.utf8.decode(chunk, { stream: chunk !== undefined });
      return true;
    } catch {
      return false;
    }
  }
}

function notUtf8(where: string): AppError {
  return invalidCsv(`The CSV is not UTF-8 ${where}: save it as CSV UTF-8 and send it again.`);
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
/** UTF-8's byte order mark, which csv-parse skips at the start (`bom: true`). */
const BOM = [0xef, 0xbb, 0xbf];

/**
 * Counts the fields of each record as the bytes pass, as csv-parse splits them (with relax_quotes):
 * `,` between fields; a field that starts with `"` is quoted up to the `"` that is not followed by
 * another (`""` stands for one), its commas and line breaks its own; a `"` elsewhere is text. A
 * record ends at a line break outside quotes (LF, CR or CRLF). Says when one has more than `max`
 * fields. Written here because csv-parse has no such bound (see MAX_FIELDS); one pass over bytes
 * already in memory.
 *
 * Also notes the line of the file each record starts on (every LF, CR or CRLF ends a line, in
 * quotes too), by the offset where it ends, for csv-parse's records to be matched with
 * (startLine): the bytes are scanned before csv-parse reads them, and a CRLF is one delimiter for
 * both, in one chunk or across two. A BOM at the start is skipped, as csv-parse does. An empty
 * line is no record (csv-parse skips it unseen); a record csv-parse skips (blanks and commas) is
 * forgotten once `parsed()`, how far csv-parse has read, is past it, so that a file of such lines
 * holds no more of them than the bytes between the two.
 */
export class FieldCount {
  /** The record being read, from 1 (a record's lines are counted as its first). */
  record = 1;
  private fields = 1;
  private quoted = false;
  /** In a quoted field, after a `"`: the end of the field, or the first of `""`. */
  private quoteSeen = false;
  private fieldStart = true;
  private lastWasCr = false;
  /** Bytes scanned before this chunk, the BOM's included (csv-parse counts them too). */
  private offset = 0;
  /** BOM bytes matched at the start; -1 once past it. */
  private bom = 0;
  /** The line of the byte being read, from 1: each LF, CR or CRLF ends one, in quotes too. */
  private line = 1;
  /** The last byte, in quotes or not, was a CR. */
  private afterCr = false;
  /** The line the record being read starts on, and whether it has a byte yet. */
  private recordLine = 1;
  private recordEmpty = true;
  private readonly starts = new RecordStarts();

  constructor(
    private readonly max: number,
    private readonly parsed: () => number = () => 0,
  ) {}

  /** False once a record has more than `max` fields. */
  scan(chunk: Uint8Array): boolean {
    this.starts.forget(this.parsed());
    const ok = this.scanFrom(chunk, this.bom < 0 ? 0 : this.skipBom(chunk));
    this.offset += chunk.length;
    return ok;
  }

  /** The end of the input: its last record, if no line break follows it, ends there. */
  end(): void {
    this.endRecord(false, this.offset);
  }

  /** The line the record being read starts on (a quoted cell's line breaks counted). */
  get recordStartLine(): number {
    return this.recordLine;
  }

  /**
   * The line the record csv-parse refused at byte `at` starts on: the first of those it has not
   * made that ends after `at` (at `at`: `ended`, refused once read whole), else the one being
   * scanned (its end not yet seen: a quote never closed, say).
   */
  refusedLine(at: number, ended: boolean): number {
    return this.starts.firstEndingAfter(ended ? at - 1 : at) ?? this.recordLine;
  }

  /** The line the record ending at byte `end` (just after its line break) starts on. */
  startLine(end: number): number | null {
    return this.starts.of(end);
  }

  private scanFrom(chunk: Uint8Array, from: number): boolean {
    for (let i = from; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === LF || byte === CR) {
        if (byte === CR || !this.afterCr) this.line++;
        this.afterCr = byte === CR;
      } else {
        this.afterCr = false;
      }
      if (this.quoted) {
        if (!this.quoteSeen) {
          this.quoteSeen = byte === QUOTE;
          continue;
        }
        this.quoteSeen = false;
        if (byte === QUOTE) continue;
        this.quoted = false;
      }
      if (!this.unquoted(byte, this.offset + i + 1)) return false;
    }
    return true;
  }

  /** Where the CSV starts in `chunk`: after the BOM's bytes, which csv-parse skips. */
  private skipBom(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length && this.bom < BOM.length && chunk[i] === BOM[this.bom]) {
      this.bom++;
      i++;
    }
    if (this.bom === BOM.length) {
      this.bom = -1;
    } else if (i < chunk.length) {
      // The first bytes were those of a BOM, then not: they were the first field's text.
      if (this.bom > 0) {
        this.fieldStart = false;
        this.recordEmpty = false;
      }
      this.bom = -1;
    }
    return i;
  }

  /** A byte outside quotes; `end`, the offset just after it. */
  private unquoted(byte: number, end: number): boolean {
    const crlf = byte === LF && this.lastWasCr;
    this.lastWasCr = byte === CR;
    if (byte === COMMA) {
      this.fieldStart = true;
      this.recordEmpty = false;
      return ++this.fields <= this.max;
    }
    if (byte === LF || byte === CR) {
      // CRLF ends one record: its LF would end an empty one, which csv-parse skips.
      if (!crlf) this.record++;
      this.endRecord(crlf, end);
      this.fields = 1;
      this.fieldStart = true;
      return true;
    }
    this.recordEmpty = false;
    this.quoted = byte === QUOTE && this.fieldStart;
    this.fieldStart = false;
    return true;
  }

  /** A record ends just before `end` (`crlf`: at the LF of a CRLF whose CR ended it already). */
  private endRecord(crlf: boolean, end: number): void {
    if (crlf) {
      // It ends after the LF: csv-parse's CRLF is one delimiter.
      this.starts.extend(end - 1, end);
      return;
    }
    if (!this.recordEmpty) this.starts.add(end, this.recordLine);
    this.recordLine = this.line;
    this.recordEmpty = true;
  }
}

/**
 * The lines the records FieldCount has read and csv-parse has not start on, by the offset where
 * each ends (just after its line break).
 */
class RecordStarts {
  private ends: number[] = [];
  private lines: number[] = [];
  private first = 0;

  add(end: number, line: number): void {
    this.ends.push(end);
    this.lines.push(line);
  }

  /** The last record ended at `from`: it ends at `to` instead. */
  extend(from: number, to: number): void {
    const last = this.ends.length - 1;
    if (last >= this.first && this.ends[last] === from) this.ends[last] = to;
  }

  /** The line of the record ending at `end`; those before it were skipped by csv-parse. */
  of(end: number): number | null {
    this.forget(end - 1);
    if (this.first >= this.ends.length || this.ends[this.first] !== end) return null;
    return this.lines[this.first++];
  }

  /** The line of the first record not yet made that ends after `at`; null if none does yet. */
  firstEndingAfter(at: number): number | null {
    for (let i = this.first; i < this.ends.length; i++) {
      if (this.ends[i] > at) return this.lines[i];
    }
    return null;
  }

  /** Forgets the records that end at or before `parsed`: csv-parse made or skipped them. */
  forget(parsed: number): void {
    while (this.first < this.ends.length && this.ends[this.first] <= parsed) this.first++;
    if (this.first > 1024 && this.first * 2 > this.ends.length) {
      this.ends = this.ends.slice(this.first);
      this.lines = this.lines.slice(this.first);
      this.first = 0;
    }
  }
}
