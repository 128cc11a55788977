import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestContext } from '../../src/auth/principal';
import { StandaloneImagesService } from '../../src/images/assets/standalone-images.service';
import { ImagePurpose } from '../../src/images/entities/image.entity';
import { ImagesModule } from '../../src/images/images.module';
import { STORAGE_PROVIDER, type StorageProvider } from '../../src/storage/storage-provider';
import { contextFor, newImage, newOrganization, newProduct } from '../support/factories';
import { solidJpeg } from '../support/fixtures';
import { startIntegrationModule, type IntegrationModule, errorCode } from '../support/integration';
import { eventually } from '../support/eventually';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** Stand-alone images (assets/) on their service: listing, expiry, edits, deletion, isolation. */
describe.each(AVAILABLE_BACKENDS)(`${StandaloneImagesService.name} on %s`, (backend) => {
  let m: IntegrationModule;
  let images: StandaloneImagesService;
  let storage: StorageProvider;
  let jpeg: Buffer;
  let ctx: RequestContext;

  const code = errorCode;

  /** A stand-alone image of the caller's organisation, its original really stored. */
  const asset = (values: { purpose?: ImagePurpose; expiresAt?: Date; createdAt?: Date } = {}) =>
    newImage(m.dataSource, {
      organizationId: ctx.organizationId,
      file: { data: jpeg, format: 'jpeg', mimeType: 'image/jpeg', width: 8, height: 8 },
      put: (key, data, contentType) => storage.put(key, data, { contentType, cacheControl: '' }),
      ...values,
    });
  const ids = async (query: { purpose?: ImagePurpose } = {}, as = ctx) =>
    (await images.list(as, { limit: 50, ...query })).items.map((i) => i.id);

  beforeAll(async () => {
    jpeg = await solidJpeg(8, 8);
    m = await startIntegrationModule(backend, {
      imports: [ImagesModule],
      env: { JOB_POLL_INTERVAL_MS: '500' },
    });
    images = m.get(StandaloneImagesService);
    storage = m.get<StorageProvider>(STORAGE_PROVIDER);
  });
  afterAll(() => m?.close());
  beforeEach(async () => {
    ctx = contextFor(await newOrganization(m.dataSource));
  });

  it('lists the organisation’s stand-alone images newest first, by purpose', async () => {
    const old = await asset({ createdAt: new Date(Date.now() - 60_000) });
    const recent = await asset();
    const account = await asset({ purpose: ImagePurpose.Account });
    const product = await newProduct(m.dataSource, { organizationId: ctx.organizationId });
    await newImage(m.dataSource, { organizationId: ctx.organizationId, productId: product.id });
    const listed = await ids({ purpose: ImagePurpose.Product });
    const shown = await Promise.all(
      [recent, old].map(async (i) => (await images.get(ctx, i.id)).id),
    );
    expect(listed).toEqual(shown);
    expect(await ids({ purpose: ImagePurpose.Account })).toEqual([
      (await images.get(ctx, account.id)).id,
    ]);
  });

  it('no longer shows an image past its expiry, swept or not', async () => {
    const expired = await asset({ expiresAt: new Date(Date.now() - 1000) });
    await expect(code(images.get(ctx, expired.id))).resolves.toBe('image_not_found');
    expect(await ids()).toEqual([]);
  });

  it('changes title, alt text and description, keeping what is left out', async () => {
    const a = await asset();
    await images.update(ctx, a.id, { title: 'Front' });
    const updated = await images.update(ctx, a.id, { alt_text: 'The front' });
    expect(updated).toMatchObject({ title: 'Front', alt_text: 'The front' });
  });

  it('deletes the row and its stored file', async () => {
    const a = await asset();
    const file = join(m.db.env.DATA_DIR, 'media', a.storageKey);
    expect(existsSync(file)).toBe(true);
    await images.remove(ctx, a.id);
    // The row at once; the file right after, by the file-deletion job.
    await eventually(() => !existsSync(file), 'the file to be deleted');
    await expect(code(images.get(ctx, a.id))).resolves.toBe('image_not_found');
  });

  it("neither shows, changes nor deletes another organisation's images", async () => {
    const a = await asset();
    const stranger = contextFor(await newOrganization(m.dataSource));
    expect(await ids({}, stranger)).toEqual([]);
    for (const call of [
      images.get(stranger, a.id),
      images.update(stranger, a.id, { title: 'mine' }),
      images.remove(stranger, a.id),
    ]) {
      await expect(code(call)).resolves.toBe('image_not_found');
    }
    await expect(images.get(ctx, a.id)).resolves.toMatchObject({ title: '' });
  });
});
