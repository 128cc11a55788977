import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { ImagesModule } from '../../src/images/images.module';
import { ImageRenditionsRepository } from '../../src/images/renditions/image-renditions.repository';
import { RebuildTrigger } from '../../src/images/renditions/rendition-rebuild.entity';
import { RenditionRebuildsRepository } from '../../src/images/renditions/rendition-rebuilds.repository';
import { RenditionSwap } from '../../src/images/renditions/rendition-swap.service';
import { JobsModule } from '../../src/jobs/jobs.module';
import { ConfiguredStorageModule } from '../../src/storage/storage.module';
import { newImage, newOrganization, newProduct } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/**
 * A rebuild's swap gives an image of a gallery new rendition URLs: the gallery is not what it was,
 * so its version (its ETag) moves on, as with any other change of it.
 */
describe.each(AVAILABLE_BACKENDS)(
  `${RenditionSwap.name} and the gallery version on %s`,
  (backend) => {
    let m: IntegrationModule;
    let db: DataSource;

    beforeAll(async () => {
      m = await startIntegrationModule(backend, {
        imports: [ImagesModule, ConfiguredStorageModule, JobsModule],
        providers: [RenditionSwap, ImageRenditionsRepository, RenditionRebuildsRepository],
      });
      db = m.dataSource;
    });
    afterAll(() => m?.close());

    const version = async (productId: string) =>
      Number(
        (await db.query('SELECT gallery_version FROM products WHERE id = $1', [productId]))[0]
          .gallery_version,
      );

    it("moves the gallery's version on when an image's renditions are swapped", async () => {
      const { id: organizationId } = await newOrganization(db);
      const product = await newProduct(db, { organizationId });
      const { id } = await newImage(db, { organizationId, productId: product.id, isPrimary: true });
      await db.query(
        `UPDATE rendition_rebuilds SET state = 'completed' WHERE state IN ('planning', 'running')`,
      );
      const runs = m.get(RenditionRebuildsRepository);
      const run = await db.transaction((manager) =>
        runs.create(manager, `set-${randomUUID()}`, RebuildTrigger.Admin),
      );
      await db.transaction(async (manager) => {
        await runs.addQueued(manager, run.id, 1, null);
        await runs.planned(manager, run.id);
      });
      const image = await m.get(ImageRenditionsRepository).find(id);
      const before = await version(product.id);
      const thumb = {
        key: `products/x/${id}/thumb-new.webp`,
        width: 8,
        height: 8,
        format: 'webp',
        size: 1,
      };
      expect(await m.get(RenditionSwap).swap(run.id, image!, { thumb }, 'new-set', [])).toBe(true);
      expect(await version(product.id)).toBeGreaterThan(before);
    });
  },
);
