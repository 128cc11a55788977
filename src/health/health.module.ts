import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DatabaseProbe } from '../database/database-probe';
import { ConfiguredStorageModule } from '../storage/storage.module';
import { HealthController } from './health.controller';
import { healthConfigProvider } from './health.config';

@Module({
  imports: [
    // Terminus's own error line for a failing check would repeat, at error level and without the
    // reason, the warning each check of HealthController writes with it.
    TerminusModule.forRoot({ logger: false }),
    ConfiguredStorageModule,
  ],
  controllers: [HealthController],
  providers: [DatabaseProbe, healthConfigProvider],
})
export class HealthModule {}
