import { Module } from '@nestjs/common';

/** Compatibility with Closient's trade-item images. */
@Module({})
export class ClosientModule {}
