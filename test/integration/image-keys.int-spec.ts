import { randomUUID } from 'node:crypto';
import { ImageSource } from '../../src/images/entities/image.entity';
import { ImageKeysRepository } from '../../src/images/image-keys.repository';
import { ImagesModule } from '../../src/images/images.module';
import { newImage, newOrganization, newProduct } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** Which stored keys the image rows name: what the orphan sweep must never delete. */
describe.each(AVAILABLE_BACKENDS)(`${ImageKeysRepository.name} on %s`, (backend) => {
  let m: IntegrationModule;
  let keys: ImageKeysRepository;

  beforeAll(async () => {
    m = await startIntegrationModule(backend, { imports: [ImagesModule] });
    keys = m.get(ImageKeysRepository);
  });
  afterAll(() => m?.close());

  /** Gives an image row other keys, as the storage it was stored on named them. */
  async function rekey(id: string, original: string, renditions: Record<string, string>) {
    const records = Object.fromEntries(
      Object.entries(renditions).map(([name, key]) => [
        name,
        { key, width: 10, height: 10, format: 'webp', size: 1 },
      ]),
    );
    await m.dataSource.query(`UPDATE images SET storage_key = $2, renditions = $3 WHERE id = $1`, [
      id,
      original,
      JSON.stringify(records),
    ]);
  }

  it("names the keys of images' originals and renditions, by stem, and no other", async () => {
    const org = await newOrganization(m.dataSource);
    const product = await newProduct(m.dataSource, { organizationId: org.id });
    const p = `products/${product.id}`;
    const gallery = await newImage(m.dataSource, { organizationId: org.id, productId: product.id });
    await rekey(gallery.id, `${p}/${gallery.id}/original.jpg`, {
      card: `${p}/${gallery.id}/card.webp`,
    });
    const asset = await newImage(m.dataSource, { organizationId: org.id });
    // The Ocha API's import on Cloudinary: one slug key, its renditions derived from it.
    const other = await newProduct(m.dataSource, { organizationId: org.id });
    const imported = await newImage(m.dataSource, {
      organizationId: org.id,
      productId: other.id,
      source: ImageSource.Import,
    });
    await rekey(imported.id, 'products/blue-shoe.jpg', { thumb: 'products/blue-shoe.jpg' });
    const gone = randomUUID();

    const held = [
      `${p}/${gallery.id}/original.jpg`,
      `${p}/${gallery.id}/card.webp`,
      // Another extension is the same object on Cloudinary.
      `${p}/${gallery.id}/card.avif`,
      asset.storageKey,
      'products/blue-shoe.png',
    ];
    const orphans = [
      `${p}/${gallery.id}/thumb.webp`,
      `${p}/${gone}/original.jpg`,
      `uploads/${gone}/original.jpg`,
      `uploads/${gallery.id}/original.jpg`,
      'products/red-shoe.jpg',
      `products/blue-shoe-${other.id}.jpg`,
    ];
    const found = await keys.heldKeys(m.dataSource.manager, [...orphans, ...held]);
    expect([...found].sort()).toEqual([...held].sort());
    // Only keys made from image ids: looked up by id alone.
    expect([...(await keys.heldKeys(m.dataSource.manager, orphans.slice(0, 4)))]).toEqual([]);
    expect(await keys.heldKeys(m.dataSource.manager, [])).toEqual(new Set());
  });
});
