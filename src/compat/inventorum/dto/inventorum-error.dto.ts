import { ApiProperty } from '@nestjs/swagger';

export class InventorumErrorDetailDto {
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'array', items: { type: 'string' } },
    description: 'Inventorum field name → messages; empty when the error is not about a field.',
    example: { image: ['This field is required.'] },
  })
  fields!: Record<string, string[]>;

  /** @example 'Serialization error' */
  description!: string;

  /**
   * `common.serializer_error` for invalid fields; otherwise `common.` and the service's error
   * code (`common.file_too_large`, `common.unsupported_media_type`, …).
   * @example 'common.serializer_error'
   */
  key!: string;
}

/** Inventorum's error envelope. */
export class InventorumErrorDto {
  error!: InventorumErrorDetailDto;
}
