import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ConfiguredStorageModule } from '../storage/storage.module';
import { HealthController } from './health.controller';

@Module({
  imports: [
    TerminusModule.forRoot({ errorLogStyle: 'json', logger: true }),
    ConfiguredStorageModule,
  ],
  controllers: [HealthController],
})
export class HealthModule {}
