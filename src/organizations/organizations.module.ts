import { Module } from '@nestjs/common';
import { ImagesModule } from '../images/images.module';
import { ConfiguredStorageModule } from '../storage/storage.module';
import { OrganizationDeletionRepository } from './organization-deletion.repository';
import { OrganizationDeletionService } from './organization-deletion.service';

/**
 * Organisations as a whole: deleting one with everything of it (the CLI's `delete-organization`).
 * Their rows and accounts are auth/'s; their catalogues products/ and images/.
 */
@Module({
  imports: [ImagesModule, ConfiguredStorageModule],
  providers: [OrganizationDeletionService, OrganizationDeletionRepository],
  exports: [OrganizationDeletionService],
})
export class OrganizationsModule {}
