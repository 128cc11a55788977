import { Module, type DynamicModule } from '@nestjs/common';
import { JobsModule } from '../../jobs/jobs.module';
import { ConfiguredStorageModule } from '../../storage/storage.module';
import { ImagesModule } from '../images.module';
import { ImageRebuildJob } from './image-rebuild.job';
import { ImageRenditionsRepository } from './image-renditions.repository';
import { RebuildPlanJob } from './rebuild-plan.job';
import { RenditionMaker } from './rendition-maker.service';
import { RenditionRebuildsRepository } from './rendition-rebuilds.repository';
import { REBUILD_AT_START_UP, RenditionRebuildsService } from './rendition-rebuilds.service';
import { RenditionSwap } from './rendition-swap.service';
import { RenditionsController } from './renditions.controller';
import { renditionsConfigProvider } from './renditions.config';

/**
 * Re-making renditions when IMAGE_RENDITIONS changes (README "Re-making renditions"): runs
 * (RenditionRebuildsService, started at start-up, by the admin route or by the CLI), their
 * planning and per-image jobs, and the swap of an image's renditions. Images record the presets
 * they were made with (`rendition_set`, rendition-set.ts).
 */
@Module({
  imports: [ImagesModule, ConfiguredStorageModule, JobsModule],
  controllers: [RenditionsController],
  providers: [
    renditionsConfigProvider,
    { provide: REBUILD_AT_START_UP, useValue: true },
    RenditionRebuildsService,
    RenditionRebuildsRepository,
    ImageRenditionsRepository,
    RenditionMaker,
    RenditionSwap,
    RebuildPlanJob,
    ImageRebuildJob,
  ],
  exports: [RenditionRebuildsService],
})
export class RenditionsModule {
  /**
   * For `npm run -s cli -- renditions:rebuild`, which starts (or attaches to) a run itself: no run is
   * started at start-up, so the one it reports is the one it asked for.
   */
  static forCli(): DynamicModule {
    return {
      module: RenditionsModule,
      providers: [{ provide: REBUILD_AT_START_UP, useValue: false }],
    };
  }
}
