import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ERROR_CODES } from './error-codes';

export class FieldErrorDto {
  @ApiProperty({
    example: 'title',
    description: 'The offending field, snake_case; nested paths use dots.',
  })
  field!: string;

  @ApiProperty({ example: 'title must be shorter than or equal to 255 characters' })
  message!: string;
}

/** RFC 9457 problem details: the body of every error response (`application/problem+json`). */
export class ProblemDetailsDto {
  @ApiProperty({
    example: 'urn:product-images:problem:validation_failed',
    description: 'A URI identifying the problem type: `urn:product-images:problem:<code>`.',
  })
  type!: string;

  @ApiProperty({ example: 'The request is invalid' })
  title!: string;

  @ApiProperty({ type: 'integer', example: 400, minimum: 400, maximum: 599 })
  status!: number;

  @ApiProperty({ example: 'Invalid value for: title.' })
  detail!: string;

  @ApiProperty({
    enum: Object.keys(ERROR_CODES),
    example: 'validation_failed',
    description:
      'Stable machine-readable code. New codes may be added; existing ones never change.',
  })
  code!: string;

  @ApiProperty({ type: [FieldErrorDto], description: 'Field-level errors; empty when none apply.' })
  errors!: FieldErrorDto[];

  @ApiPropertyOptional({
    example: '6f1c2a9e-3b1d-4a55-9c0e-2d5b7e8f9a10',
    description: 'The request id, as in the `X-Request-Id` response header; quote it in reports.',
  })
  request_id?: string;
}
