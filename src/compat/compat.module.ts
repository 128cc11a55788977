import { Module, type DynamicModule, type Type } from '@nestjs/common';
import type { CompatApiName } from '../config/env-values';
import { BackofficeUploaderModule } from './backoffice-uploader/backoffice-uploader.module';
import { ClosientModule } from './closient/closient.module';
import { InventorumModule } from './inventorum/inventorum.module';
import { TokenApiModule } from './token-api/token-api.module';

/** Each compatible API's module, by its name in COMPAT_APIS. */
const COMPAT_MODULES: Record<CompatApiName, Type> = {
  'token-api': TokenApiModule,
  closient: ClosientModule,
  inventorum: InventorumModule,
  'backoffice-uploader': BackofficeUploaderModule,
};

/**
 * The image APIs this service was modelled on, each at its own documented paths (outside
 * /api/v1) and in its own request and response shapes: adapters that only translate onto the
 * main API's services, so that no rule is implemented twice. COMPAT_APIS chooses which are served.
 */
@Module({})
export class CompatModule {
  static forRoot(enabled: readonly CompatApiName[]): DynamicModule {
    return { module: CompatModule, imports: enabled.map((name) => COMPAT_MODULES[name]) };
  }
}
