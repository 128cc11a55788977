import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiExtraModels, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { Ctx, MinRole, RequireScopes } from '../auth/decorators';
import type { RequestContext } from '../auth/principal';
import { Role, Scope } from '../auth/roles';
import { CreatedLocation } from '../common/http/created-location';
import { MultipartRequestOf } from '../common/http/multipart-routes';
import { ParseIdPipe } from '../common/ids/parse-id.pipe';
import { CursorQueryDto } from '../common/pagination/cursor-query.dto';
import { ApiProblems, PROBLEMS } from '../openapi/problems';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { IdempotentRows } from '../idempotency/idempotent-body.pipe';
import {
  CreateImportDto,
  IMPORT_ROW_EXAMPLE,
  IMPORT_COLUMNS,
  ImportDto,
  ImportPageDto,
  ImportRowPageDto,
  ImportRowsQueryDto,
} from './dto/import.dto';
import {
  BULK_IMPORT_BODY,
  CSV_FILE_FIELD,
  ImportBodyPipe,
  type ImportSource,
} from './import-body.pipe';
import { ImportsService } from './imports.service';

const CSV_SCHEMA = {
  type: 'string' as const,
  description:
    `A header line naming the columns (${IMPORT_COLUMNS.join(', ')}; \`url\` and one product ` +
    'column at least), then one line a row. Empty cells are values left out.',
  example:
    'gtin,url,title,is_primary\n' +
    '4006381333931,https://images.example.com/a.jpg,Front,true\n' +
    '4006381333931,https://images.example.com/b.jpg,Back,false\n',
};

const IMPORT_BODY = {
  required: true,
  content: {
    // What Swagger UI's "Try it out" sends: a row naming its product once (a sample built from
    // the row's schema would name it by product_id, gtin and external_id at once, and fail).
    'application/json': {
      schema: { $ref: getSchemaPath(CreateImportDto) },
      example: { rows: [IMPORT_ROW_EXAMPLE] },
    },
    'text/csv': { schema: CSV_SCHEMA },
    'multipart/form-data': {
      schema: {
        type: 'object' as const,
        required: [CSV_FILE_FIELD],
        properties: {
          [CSV_FILE_FIELD]: {
            type: 'string' as const,
            format: 'binary',
            description: 'The CSV, as a `text/csv` body would be.',
          },
        },
      },
    },
  },
};

/**
 * Bulk imports: many images, each fetched from a URL into a product's gallery by background
 * workers. Who may: as `PUT /api/v1/products/{id}/image`, the single URL import (admins, with
 * `images:write`; `images:read` to follow one).
 */
@ApiTags('imports')
@ApiExtraModels(CreateImportDto)
@Controller('imports')
export class ImportsController {
  constructor(private readonly imports: ImportsService) {}

  @Post()
  @HttpCode(202)
  @CreatedLocation()
  @MinRole(Role.Admin)
  @RequireScopes(Scope.ImagesWrite)
  @RouteConfig(BULK_IMPORT_BODY)
  @Idempotent()
  @ApiOperation({
    summary: 'Import images from URLs, in bulk',
    // One schema a content type (@ApiBody would give each the same one).
    requestBody: IMPORT_BODY,
    description:
      'Rows `{product_id | gtin | external_id, url, title, alt_text, is_primary, priority}` as ' +
      'JSON `{"rows": [...]}` (within JSON_BODY_LIMIT_BYTES), or as CSV: a `text/csv` body or ' +
      `the \`${CSV_FILE_FIELD}\` part of a multipart form (within BULK_IMPORT_MAX_BYTES, read as ` +
      'it arrives; send large imports this way), at most BULK_IMPORT_MAX_ROWS rows. A JSON or ' +
      '`text/csv` body may be gzip-compressed (`Content-Encoding: gzip`): it is decompressed as ' +
      'it arrives, and those limits count its decompressed bytes (413 beyond them); a corrupt ' +
      'gzip stream is 400 (`invalid_csv`, `malformed_json`), any other coding, or a compressed ' +
      'multipart form, 415. Answers 202 ' +
      'with the import, once every row is stored: workers then fetch each URL as `PUT ' +
      '/api/v1/products/{id}/image` does and add the image to the gallery as an upload with ' +
      'those fields would be, in parallel and in no set order. Each row is checked on its own: ' +
      'an invalid one fails alone (`invalid_import_row`) and the import goes on. Follow it at ' +
      '`Location`.',
  })
  @ApiProblems(
    ...PROBLEMS.jsonBody,
    'invalid_csv',
    'import_too_large',
    'invalid_multipart',
    'too_many_files',
  )
  createImport(
    @Ctx() ctx: RequestContext,
    @MultipartRequestOf('pipe', ImportBodyPipe, IdempotentRows) source: ImportSource,
  ): Promise<ImportDto> {
    return this.imports.create(ctx, source);
  }

  @Get()
  @MinRole(Role.Admin)
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    summary: "The organisation's imports, newest first",
    description:
      'Each with its progress, as `GET /api/v1/imports/{importId}` gives it. Completed imports ' +
      'are kept BULK_IMPORT_RETENTION_DAYS days. Follow `next_cursor` for the next page.',
  })
  @ApiProblems(...PROBLEMS.validation, 'invalid_cursor')
  listImports(@Ctx() ctx: RequestContext, @Query() query: CursorQueryDto): Promise<ImportPageDto> {
    return this.imports.list(ctx, query);
  }

  @Get(':importId')
  @MinRole(Role.Admin)
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    summary: 'An import and its progress',
    description:
      'Rows received, done (ok or failed) and pending; `completed` once none is pending.',
  })
  @ApiProblems(...PROBLEMS.id, 'import_not_found')
  getImport(
    @Ctx() ctx: RequestContext,
    @Param('importId', ParseIdPipe) importId: string,
  ): Promise<ImportDto> {
    return this.imports.get(ctx, importId);
  }

  @Get(':importId/rows')
  @MinRole(Role.Admin)
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    summary: "An import's rows and what became of each",
    description:
      'In order; `ok` with the image made, `failed` with the problem (`?status=failed` for ' +
      'those only), or `pending`. Follow `next_cursor` for the next page.',
  })
  @ApiProblems(...PROBLEMS.id, ...PROBLEMS.validation, 'invalid_cursor', 'import_not_found')
  listImportRows(
    @Ctx() ctx: RequestContext,
    @Param('importId', ParseIdPipe) importId: string,
    @Query() query: ImportRowsQueryDto,
  ): Promise<ImportRowPageDto> {
    return this.imports.rows(ctx, importId, query);
  }

  @Post(':importId/cancel')
  @HttpCode(200)
  @MinRole(Role.Admin)
  @RequireScopes(Scope.ImagesWrite)
  @ApiOperation({
    summary: 'Cancel an import',
    description:
      'Every row not yet done fails with `import_cancelled`, a row whose image is being made ' +
      'this moment included (that image is undone), and the import completes. Rows already ok ' +
      'keep their images; `POST /api/v1/imports/{importId}/retry` runs the cancelled rows ' +
      'again. Cancelling a completed import changes nothing.',
  })
  @ApiProblems(...PROBLEMS.id, 'import_not_found', 'import_receiving')
  cancelImport(
    @Ctx() ctx: RequestContext,
    @Param('importId', ParseIdPipe) importId: string,
  ): Promise<ImportDto> {
    return this.imports.cancel(ctx, importId);
  }

  @Post(':importId/retry')
  @HttpCode(202)
  @MinRole(Role.Admin)
  @RequireScopes(Scope.ImagesWrite)
  @ApiOperation({
    summary: "Run an import's failed rows again",
    description:
      'Failed rows go back to pending and are worked again, as you (rows the rules for rows ' +
      'refused, `invalid_import_row`, on arrival or when worked, stay failed: post them again, ' +
      'corrected). Rows already ok are skipped: no image is made twice.',
  })
  @ApiProblems(...PROBLEMS.id, 'import_not_found', 'import_receiving')
  retryImport(
    @Ctx() ctx: RequestContext,
    @Param('importId', ParseIdPipe) importId: string,
  ): Promise<ImportDto> {
    return this.imports.retry(ctx, importId);
  }
}
