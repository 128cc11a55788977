import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import type { FindOptionsOrder, FindOptionsWhere, Repository } from 'typeorm';

/** `?page=&per_page=` for short administrative lists. */
export class PageQueryDto {
  /** 1-based page number. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  page: number = 1;

  /** Items per page (1-100). */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  per_page: number = 20;

  get offset(): number {
    return (this.page - 1) * this.per_page;
  }
}

export class PageMetaDto {
  @ApiProperty({ example: 1 })
  page!: number;

  @ApiProperty({ example: 20 })
  per_page!: number;

  @ApiProperty({ example: 42, description: 'Total number of items over all pages.' })
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
