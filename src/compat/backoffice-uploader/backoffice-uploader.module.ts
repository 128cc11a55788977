import { Module } from '@nestjs/common';

/** Compatibility with the back-office uploader's `POST /image`. */
@Module({})
export class BackofficeUploaderModule {}
