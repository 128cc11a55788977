import { Module } from '@nestjs/common';

/** Compatibility with the token API ("Create Product Image"). */
@Module({})
export class TokenApiModule {}
