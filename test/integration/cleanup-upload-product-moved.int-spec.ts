import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GalleryService } from '../../src/images/gallery/gallery.service';
import { GalleryUploadService } from '../../src/images/gallery/gallery-upload.service';
import { ImagesModule } from '../../src/images/images.module';
import { gtinCheckDigit } from '../../src/products/gtin';
import { contextFor, newOrganization, newProduct } from '../support/factories';
import { pendingFileDeletions } from '../support/file-deletions';
import { solidJpeg } from '../support/fixtures';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

/**
 * An upload by GTIN whose GTIN moves to another product and back while it is added: its files are
 * stored under the first product, given up (their deletion queued), stored under the second, given
 * up, and stored a third time. Stored under the first product again, the third files would have
 * the keys whose deletion the first attempt queued: the image's row would name files that a
 * deletion still to run removes. As `api`, this process runs no job: the deletions stay queued.
 */
describe(`${GalleryUploadService.name}: a reference moving back and forth`, () => {
  let m: IntegrationModule;
  let scratch: string;

  beforeAll(async () => {
    m = await startIntegrationModule('default', {
      imports: [ImagesModule],
      env: { SERVICE_ROLE: 'api' },
    });
    scratch = mkdtempSync(join(tmpdir(), 'pis-product-moved-'));
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    rmSync(scratch, { recursive: true, force: true });
    await m?.close();
  });

  it('never names files whose deletion an earlier attempt queued', async () => {
    const organization = await newOrganization(m.dataSource);
    const body = `0${Date.now()}`.slice(-13);
    const gtin = `${body}${gtinCheckDigit(body)}`;
    const first = await newProduct(m.dataSource, { organizationId: organization.id, gtin });
    const second = await newProduct(m.dataSource, { organizationId: organization.id });
    const moveGtin = async (from: string, to: string) => {
      await m.dataSource.query(`UPDATE products SET gtin = NULL WHERE id = $1`, [from]);
      await m.dataSource.query(`UPDATE products SET gtin = $2 WHERE id = $1`, [to, gtin]);
    };
    const gallery = m.get(GalleryService);
    const add = gallery.add.bind(gallery);
    let calls = 0;
    jest.spyOn(gallery, 'add').mockImplementation(async (...args) => {
      calls += 1;
      // While the first attempt's files are stored, the GTIN moves on; then it comes back.
      if (calls === 1) await moveGtin(first.id, second.id);
      if (calls === 2) await moveGtin(second.id, first.id);
      return add(...args);
    });
    const path = join(scratch, 'photo.jpg');
    writeFileSync(path, await solidJpeg(32, 24));
    const upload = {
      file: { path, size: statSync(path).size, filename: 'photo.jpg' },
      fields: { title: 'Front' },
    };
    const ctx = contextFor(organization);
    const { image } = await m.get(GalleryUploadService).upload(ctx, { gtin }, upload);
    expect(calls).toBe(3);
    const [row] = await m.dataSource.query<
      { storage_key: string; renditions: Record<string, { key: string }> }[]
    >(`SELECT storage_key, renditions FROM images WHERE product_id = $1`, [first.id]);
    expect(row).toBeDefined();
    const named = [row.storage_key, ...Object.values(row.renditions).map((r) => r.key)];
    expect(image).toBeDefined();
    // Both given-up attempts' deletions are queued, and none of them names the image's files.
    const pending = await pendingFileDeletions(m.dataSource);
    expect(pending.length).toBeGreaterThanOrEqual(named.length * 2);
    expect(named.filter((key) => pending.includes(key))).toEqual([]);
  });
});
