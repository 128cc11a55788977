import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { QueryInteger } from '../../common/http/form-values';
import {
  IsBoolean,
  IsEnum,
  IsInt,
  IsOptional,
  IsString,
  Max,
  Min,
  ValidateBy,
} from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { FormBoolean, FormInteger } from '../../common/http/form-values';
import { decodeId, ID_OR_UUID_PATTERN } from '../../common/ids/short-id';
import {
  EXTERNAL_ID_MAX_LENGTH,
  EXTERNAL_ID_PATTERN_SOURCE,
  IsExternalId,
} from '../../products/external-id';
import { normalizeGtin } from '../../products/gtin';
import { ImportFormat } from '../entities/bulk-import.entity';
import { ImportRowStatus } from '../entities/bulk-import-row.entity';
import { EmptyOrNameText } from '../../common/http/display-text';
import { Trimmed } from '../../common/http/validation';

/** The longest URL a row may give. */
export const MAX_IMPORT_URL_LENGTH = 2048;

/** What an import looks like from outside: still arriving, being worked, or every row done. */
export enum ImportProgressState {
  Receiving = 'receiving',
  Processing = 'processing',
  Completed = 'completed',
}

const ID_RULE = 'product_id must be a 22-character id or a UUID';
const GTIN_RULE = 'gtin must be a GTIN-8, -12, -13 or -14 with a valid check digit';
const URL_RULE =
  'url must be an http(s) URL, without a user name or password, tabs, line breaks or other ' +
  'control characters';
const PRIORITY_RULE = 'priority must be an integer from 0 to 1000000';

function Satisfies(name: string, test: (value: string) => boolean, message: string) {
  return ValidateBy({
    name,
    validator: {
      validate: (value) => typeof value === 'string' && test(value),
      defaultMessage: () => message,
    },
  });
}

/**
 * An http(s) URL with a host and no user name or password: one with credentials would be refused
 * when fetched anyway, and kept with its row it was shown, password and all, to every reader of
 * the import for as long as it is kept. No control character either: a URL parser drops tabs and
 * line breaks (a quoted CSV cell can hold them), so the row would show one URL and fetch another.
 */
function isHttpUrl(value: string): boolean {
  if (!/^https?:\/\//i.test(value) || /\p{Cc}/u.test(value)) return false;
  try {
    const url = new URL(value);
    return Boolean(url.host) && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

/**
 * One row of a bulk import: which product (by exactly one of `product_id`, `gtin` or
 * `external_id`), the image's URL, and the gallery fields of an upload. In a CSV these are the
 * header's column names; an empty cell is a value left out.
 */
export class ImportRowInputDto {
  /** The product's id (or its UUID). */
  @ApiPropertyOptional({ pattern: ID_OR_UUID_PATTERN, example: '9bYsGJZVNPTSbQeJxuSeuy' })
  @IsOptional()
  @Satisfies('isId', (value) => decodeId(value) !== undefined, ID_RULE)
  product_id?: string;

  /** The product's GTIN, any of the four lengths. */
  @ApiPropertyOptional({ example: '4006381333931' })
  @IsOptional()
  @Satisfies('isGtin', (value) => normalizeGtin(value) !== undefined, GTIN_RULE)
  gtin?: string;

  /** Your own id for the product. */
  @ApiPropertyOptional({
    minLength: 1,
    maxLength: EXTERNAL_ID_MAX_LENGTH,
    pattern: EXTERNAL_ID_PATTERN_SOURCE,
    example: '4711',
  })
  @IsOptional()
  @IsExternalId()
  external_id?: string;

  /**
   * The image, fetched by the service as `PUT /api/v1/products/{id}/image` fetches URLs: public
   * addresses and allowed ports only, at most 3 redirects, within IMPORT_TIMEOUT_MS.
   */
  @ApiProperty({
    maxLength: MAX_IMPORT_URL_LENGTH,
    example: 'https://images.example.com/blue-shoe.jpg',
  })
  @IsString({ message: URL_RULE })
  @MaxLength(MAX_IMPORT_URL_LENGTH)
  @Satisfies('isHttpUrl', isHttpUrl, URL_RULE)
  url!: string;

  /** @example 'Front of package' */
  @IsOptional()
  @Trimmed()
  @IsString()
  @MaxLength(255)
  @EmptyOrNameText()
  title?: string;

  /** @example 'A blue running shoe, seen from the side' */
  @IsOptional()
  @Trimmed()
  @IsString()
  @MaxLength(1000)
  @EmptyOrNameText()
  alt_text?: string;

  /** Make it the primary image. As text (a CSV cell, a JSON string) also 1/0, yes/no, on/off. */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @FormBoolean()
  @IsBoolean({ message: 'is_primary must be true or false' })
  is_primary?: boolean;

  /** Lower first; default: after the last image. */
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 1_000_000 })
  @IsOptional()
  @FormInteger()
  @IsInt({ message: PRIORITY_RULE })
  @Min(0, { message: PRIORITY_RULE })
  @Max(1_000_000, { message: PRIORITY_RULE })
  priority?: number;
}

/**
 * A row as an example: its product named once (by GTIN), its gallery fields left to their
 * defaults (not primary, after the last image).
 */
export const IMPORT_ROW_EXAMPLE = {
  gtin: '4006381333931',
  url: 'https://images.example.com/blue-shoe.jpg',
  title: 'Front of package',
  alt_text: 'A blue running shoe, seen from the side',
} satisfies ImportRowInputDto;

/** The columns a CSV may have, as its header names them. */
export const IMPORT_COLUMNS = [
  'product_id',
  'gtin',
  'external_id',
  'url',
  'title',
  'alt_text',
  'is_primary',
  'priority',
] as const satisfies readonly (keyof ImportRowInputDto)[];

/** `POST /api/v1/imports` as JSON (within JSON_BODY_LIMIT_BYTES: send large imports as CSV). */
export class CreateImportDto {
  /** The rows, each checked on its own: an invalid row fails alone, with `invalid_import_row`. */
  @ApiProperty({ type: [ImportRowInputDto], minItems: 1, example: [IMPORT_ROW_EXAMPLE] })
  rows!: ImportRowInputDto[];
}

export class ImportCountsDto {
  /** Rows received. */
  @ApiProperty({ type: 'integer', minimum: 0, example: 500 })
  total!: number;
  /** Rows finished, ok or failed. */
  @ApiProperty({ type: 'integer', minimum: 0, example: 420 })
  done!: number;
  @ApiProperty({ type: 'integer', minimum: 0, example: 412 })
  ok!: number;
  @ApiProperty({ type: 'integer', minimum: 0, example: 8 })
  failed!: number;
  /** Rows still to be worked. */
  @ApiProperty({ type: 'integer', minimum: 0, example: 80 })
  pending!: number;
}

export class ImportLinksDto {
  /** @example '/api/v1/imports/9bYsGJZVNPTSbQeJxuSeuy' */
  self!: string;
  /** Every row, in order. @example '/api/v1/imports/9bYsGJZVNPTSbQeJxuSeuy/rows' */
  rows!: string;
  /** @example '/api/v1/imports/9bYsGJZVNPTSbQeJxuSeuy/rows?status=failed' */
  failed_rows!: string;
  /** POST: works the failed rows again. @example '/api/v1/imports/9bYsGJZVNPTSbQeJxuSeuy/retry' */
  retry!: string;
  /** POST: fails the rows not yet done. @example '/api/v1/imports/9bYsGJZVNPTSbQeJxuSeuy/cancel' */
  cancel!: string;
}

/** A bulk import and its progress. */
export class ImportDto {
  /** @example '9bYsGJZVNPTSbQeJxuSeuy' */
  id!: string;

  @ApiProperty({
    enum: ImportProgressState,
    description:
      '`receiving` while the rows arrive, `processing` while any is pending, `completed` once ' +
      'every row is ok or failed.',
  })
  state!: ImportProgressState;

  @ApiProperty({ enum: ImportFormat })
  format!: ImportFormat;

  counts!: ImportCountsDto;
  links!: ImportLinksDto;

  /** @example '2026-11-22T10:15:00.000Z' */
  created_at!: Date;

  @ApiProperty({
    type: Date,
    nullable: true,
    description: 'When the last row was done; null while any is pending.',
    example: '2026-11-22T10:19:00.000Z',
  })
  finished_at!: Date | null;
}

/** A page of imports, newest first. */
export class ImportPageDto {
  items!: ImportDto[];

  /** Pass as `cursor` for the next page; null on the last page. */
  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}

/** Why a row failed: an error code of the API, and what it means for this row. */
export class ImportRowProblemDto {
  /**
   * `invalid_import_row` (refused by the rules for rows: on arrival, or, for a row an older
   * version stored, when it is worked; see `message`), `product_not_found`,
   * `image_url_unreachable`, `unsupported_image_type`, `unsafe_svg`, `invalid_image`,
   * `image_too_many_pixels`, `image_too_complex`, `file_too_large`; `invalid_api_key`,
   * `invalid_token`, `insufficient_role` or `insufficient_scope` when who posted the import (or last
   * retried it) may no longer (a key revoked, a user disabled or demoted); `import_cancelled`
   * (the import was cancelled first); after every retry failed, `storage_unavailable`,
   * `server_busy` or `internal_error`.
   * @example 'image_url_unreachable'
   */
  code!: string;
  /** @example 'The image could not be fetched from this URL.' */
  message!: string;
}

/** One row of an import, and what became of it. */
export class ImportRowDto {
  /**
   * Its position, counted in rows: 1 for the first of the JSON list, or for the CSV's first record
   * after the header. A CSV record is not always a line: a quoted cell's line breaks are part of
   * it, and blank lines are skipped uncounted, so row 12 may start further down the file: `line`
   * says where.
   */
  @ApiProperty({ type: 'integer', minimum: 1, example: 12 })
  row!: number;

  /**
   * For a CSV import, the line of the file where the row's record starts, from 1: the header's
   * lines are counted (its first row is on line 2 unless the header spans more), as are a quoted
   * cell's line breaks and blank lines (each of LF, CRLF and CR ends a line). Null for a JSON
   * import, and for a CSV import made before this was recorded.
   */
  @ApiProperty({ type: 'integer', minimum: 1, nullable: true, example: 14 })
  line!: number | null;

  @ApiProperty({ enum: ImportRowStatus })
  status!: ImportRowStatus;

  @ApiProperty({ type: String, nullable: true, example: '9bYsGJZVNPTSbQeJxuSeuy' })
  product_id!: string | null;

  /** As GTIN-14. */
  @ApiProperty({ type: String, nullable: true, example: '04006381333931' })
  gtin!: string | null;

  @ApiProperty({ type: String, nullable: true, example: '4711' })
  external_id!: string | null;

  /** Null on a row refused on arrival, as are the product keys. */
  @ApiProperty({ type: String, nullable: true, example: 'https://images.example.com/a.jpg' })
  url!: string | null;

  /** The image the row made (`ok` only). */
  @ApiProperty({ type: String, nullable: true, example: '7cTqv3WJ4rH2mXkzB9nYaP' })
  image_id!: string | null;

  @ApiProperty({ type: ImportRowProblemDto, nullable: true })
  problem!: ImportRowProblemDto | null;
}

export class ImportRowPageDto {
  items!: ImportRowDto[];

  /** Pass as `cursor` for the next page; null on the last page. */
  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}

const LIMIT_RULE = 'limit must be an integer from 1 to 1000';

/** `?status=&limit=&cursor=` */
export class ImportRowsQueryDto {
  /** Only the rows of this status. */
  @ApiPropertyOptional({ enum: ImportRowStatus })
  @IsOptional()
  @IsEnum(ImportRowStatus, {
    message: `status must be one of: ${Object.values(ImportRowStatus).join(', ')}`,
  })
  status?: ImportRowStatus;

  /** Rows per page (1-1000). */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @QueryInteger()
  @IsInt({ message: LIMIT_RULE })
  @Min(1, { message: LIMIT_RULE })
  @Max(1000, { message: LIMIT_RULE })
  limit: number = 100;

  /** `next_cursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}
