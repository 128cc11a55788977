import { Module, type LoggerService } from '@nestjs/common';
import type { LoadedConfig } from '../config/app-config.module';
import { ServiceRole } from '../config/env.validation';
import { withCliContext } from '../database/cli-context';
import { storageUncheckedAtStart } from '../storage/storage.module';
import { OrganizationDeletionService } from './organization-deletion.service';
import { OrganizationsModule } from './organizations.module';

/** The organisations' module, with the storage left unchecked at start (see below). */
@Module({})
class OrganizationsCliModule {}

/**
 * `npm run -s cli -- delete-organization --org SLUG --confirm SLUG`: deletes the organisation and
 * everything of it, prints what was deleted as JSON on stdout. Its files' deletions are queued, for
 * the service's workers to do: this process works no job (it only queues them), so it need not
 * wait for a storage to answer, nor check one at start: an erasure runs while the storage is down.
 * An unknown organisation is an AppError (exit 1).
 */
export async function deleteOrganization(
  config: LoadedConfig,
  logger: LoggerService,
  slug: string,
): Promise<void> {
  // Queues, works nothing: the service's workers delete the files (once started again, on the
  // embedded database).
  config.env.SERVICE_ROLE = ServiceRole.Api;
  config.env.REDIS_URL = undefined;
  const feature = {
    module: OrganizationsCliModule,
    imports: [OrganizationsModule, storageUncheckedAtStart()],
  };
  await withCliContext(config, feature, logger, async (app) => {
    const summary = await app.get(OrganizationDeletionService).delete(slug);
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  });
}
