import { ApiPropertyOptional } from '@nestjs/swagger';
import { QueryInteger } from '../http/form-values';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { MaxLength } from '../http/max-length';

const LIMIT_RULE = 'limit must be an integer from 1 to 100';

/** `?limit=&cursor=` for lists that can grow large. */
export class CursorQueryDto {
  /** Items per page (1-100). */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @QueryInteger()
  @IsInt({ message: LIMIT_RULE })
  @Min(1, { message: LIMIT_RULE })
  @Max(100, { message: LIMIT_RULE })
  limit: number = 20;

  /** `next_cursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}
