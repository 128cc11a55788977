import { Module } from '@nestjs/common';

/** Compatibility with Inventorum's stand-alone `POST /images`. */
@Module({})
export class InventorumModule {}
