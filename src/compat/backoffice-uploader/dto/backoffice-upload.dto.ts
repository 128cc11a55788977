import { ApiProperty } from '@nestjs/swagger';

export class BackofficeUploadDataDto {
  @ApiProperty({
    description:
      "The original's storage key: served at `/media/<key>` (local storage), and " +
      '`GET /api/v1/images?key=<key>` finds the image.',
    example: 'uploads/58853e25-ae5e-4471-92ee-37c91a501c08/original.png',
  })
  key!: string;
}

/** The back-office uploader's answer: the stored file's key. */
export class BackofficeUploadDto {
  data!: BackofficeUploadDataDto;
}
