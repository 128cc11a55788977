import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { QueryInteger } from '../http/form-values';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import type { FindOptionsOrder, FindOptionsWhere, Repository } from 'typeorm';

/**
 * The last page number accepted. Without a bound, `page=1e20` is an integer whose offset
 * overflows PostgreSQL's bigint (a 500); a hundred thousand pages is far beyond any list here.
 */
export const MAX_PAGE = 100_000;
const PAGE_RULE = `page must be an integer from 1 to ${MAX_PAGE}`;

/** `?page=&per_page=` query classes, with their own default and maximum page size. */
export function PageQuery(options: { defaultPerPage: number; maxPerPage: number }) {
  const perPageRule = `per_page must be an integer from 1 to ${options.maxPerPage}`;
  class PageQuery {
    /** 1-based page number. */
    @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 1 })
    @IsOptional()
    @QueryInteger()
    @IsInt({ message: PAGE_RULE })
    @Min(1, { message: PAGE_RULE })
    @Max(MAX_PAGE, { message: PAGE_RULE })
    page: number = 1;

    /** Items per page. */
    @ApiPropertyOptional({
      type: 'integer',
      minimum: 1,
      maximum: options.maxPerPage,
      default: options.defaultPerPage,
    })
    @IsOptional()
    @QueryInteger()
    @IsInt({ message: perPageRule })
    @Min(1, { message: perPageRule })
    @Max(options.maxPerPage, { message: perPageRule })
    per_page: number = options.defaultPerPage;

    get offset(): number {
      return (this.page - 1) * this.per_page;
    }
  }
  return PageQuery;
}

/** For short administrative lists: 20 a page, at most 100. */
export class PageQueryDto extends PageQuery({ defaultPerPage: 20, maxPerPage: 100 }) {}

export class PageMetaDto {
  @ApiProperty({ type: 'integer', minimum: 1, example: 1 })
  page!: number;

  @ApiProperty({ type: 'integer', minimum: 1, example: 20 })
  per_page!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    example: 42,
    description: 'Total number of items over all pages.',
  })
  total!: number;
}

/** One page of an organisation's rows, oldest first, mapped to DTOs. */
export async function findPage<
  E extends { organizationId: string; createdAt: Date; id: string },
  D,
>(
  repository: Repository<E>,
  organizationId: string,
  page: PageQueryDto,
  toDto: (entity: E) => D,
): Promise<PageMetaDto & { items: D[] }> {
  const [rows, total] = await repository.findAndCount({
    where: { organizationId } as FindOptionsWhere<E>,
    order: { createdAt: 'ASC', id: 'ASC' } as FindOptionsOrder<E>,
    skip: page.offset,
    take: page.per_page,
  });
  return { items: rows.map(toDto), total, page: page.page, per_page: page.per_page };
}
