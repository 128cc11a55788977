import { Role } from '../../src/auth/roles';
import { StandaloneImagesRepository } from '../../src/images/assets/standalone-images.repository';
import { GalleryService } from '../../src/images/gallery/gallery.service';
import { uploaderStillThere } from '../../src/images/image-uploaders.repository';
import { ImagesModule } from '../../src/images/images.module';
import {
  contextFor,
  newOrganization,
  newProduct,
  newUser,
  storedImage,
} from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/**
 * The uploader a new image records, when that user is deleted while the upload is on its way (a
 * request authenticated before, or an API key whose creator was deleted, still cached by another
 * instance): the image is stored with no uploader, as the deletion leaves their other images,
 * rather than the upload failing on the foreign key (500).
 */
describe.each(AVAILABLE_BACKENDS)('Uploaders of new images on %s', (backend) => {
  let m: IntegrationModule;

  beforeAll(async () => {
    m = await startIntegrationModule(backend, { imports: [ImagesModule] });
  });
  afterAll(() => m?.close());

  async function deletedUser() {
    const organization = await newOrganization(m.dataSource);
    const user = await newUser(m.dataSource, { organizationId: organization.id });
    await m.dataSource.query('DELETE FROM users WHERE id = $1', [user.id]);
    const ctx = contextFor({ organizationId: organization.id, role: Role.Admin, id: user.id });
    return { organization, user, ctx };
  }
  const uploaderOf = async (imageId: string) =>
    (
      await m.dataSource.query<{ uploaded_by: string | null }[]>(
        'SELECT uploaded_by FROM images WHERE id = $1',
        [imageId],
      )
    )[0];

  it('adds a gallery image of a user deleted meanwhile, with no uploader', async () => {
    const { organization, user, ctx } = await deletedUser();
    const product = await newProduct(m.dataSource, { organizationId: organization.id });
    const image = storedImage(user.id);
    const added = await m.get(GalleryService).add(ctx, { id: product.id }, image, {});
    expect(added.image.uploaded_by).toBeNull();
    expect(await uploaderOf(image.id)).toEqual({ uploaded_by: null });
  });

  it('stores a stand-alone image of a user deleted meanwhile, with no uploader', async () => {
    const { organization, user } = await deletedUser();
    const image = { ...storedImage(user.id), organizationId: organization.id, productId: null };
    const inserted = await m.get(StandaloneImagesRepository).insert(image, undefined);
    expect(inserted.uploadedById).toBeNull();
  });

  (backend === 'postgres' ? it : it.skip)(
    "makes a deletion of the uploader wait for the image's commit, then clears it there too",
    async () => {
      const organization = await newOrganization(m.dataSource);
      const user = await newUser(m.dataSource, { organizationId: organization.id });
      const image = { ...storedImage(user.id), organizationId: organization.id, productId: null };
      let deleted = false;
      let deletion: Promise<unknown> | undefined;
      await m.dataSource.transaction(async (manager) => {
        expect(await uploaderStillThere(manager, user.id)).toBe(user.id);
        deletion = m.dataSource
          .query('DELETE FROM users WHERE id = $1', [user.id])
          .then(() => (deleted = true));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(deleted).toBe(false);
        await manager.insert('images', { ...image, uploadedById: user.id });
      });
      await deletion;
      expect(await uploaderOf(image.id)).toEqual({ uploaded_by: null });
    },
  );
});
