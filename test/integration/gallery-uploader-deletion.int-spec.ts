import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { AuthModule } from '../../src/auth/auth.module';
import { Role } from '../../src/auth/roles';
import { UsersService } from '../../src/auth/users.service';
import { GalleryService } from '../../src/images/gallery/gallery.service';
import { ImagesModule } from '../../src/images/images.module';
import { contextFor, newImage, newOrganization, newProduct, newUser } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/**
 * A gallery change that writes several image rows (a new primary demotes the old one) while the
 * user who uploaded them is deleted (which clears uploaded_by on each of their images): the two
 * must wait for each other, not each hold a row the other needs (a deadlock, and a 500).
 */
const describeServer = AVAILABLE_BACKENDS.includes('postgres') ? describe : describe.skip;

describeServer('a gallery change while the uploader is deleted, on postgres', () => {
  let m: IntegrationModule;
  let db: DataSource;
  let gallery: GalleryService;
  let users: UsersService;

  beforeAll(async () => {
    m = await startIntegrationModule('postgres', { imports: [AuthModule, ImagesModule] });
    db = m.dataSource;
    gallery = m.get(GalleryService);
    users = m.get(UsersService);
  });
  afterAll(() => m?.close());

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('makes an image primary while its uploader is deleted, without a deadlock', async () => {
    const { id: organizationId } = await newOrganization(db);
    const admin = contextFor({ organizationId, role: Role.Admin }, 'api_key');
    const uploader = await newUser(db, { organizationId, role: Role.Staff });
    const product = await newProduct(db, { organizationId });
    const image = (isPrimary = false) =>
      newImage(db, { organizationId, productId: product.id, uploadedById: uploader.id, isPrimary });
    const primary = await image(true);
    const [next, other] = [await image(), await image()];
    // The primary, edited since, is now the last of the three in the table: a deletion clears
    // uploaded_by on `next`, then `other`, then the primary.
    await db.query(`UPDATE images SET title = 'edited' WHERE id = $1`, [primary.id]);

    // Another transaction holds `other` for a moment, so that the deletion waits there, holding
    // `next`, while the change demotes the primary and then waits to write `next`.
    const holder = new Client({ connectionString: m.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM images WHERE id = $1 FOR SHARE', [other.id]);
      const deletion = users.remove(admin, uploader.id);
      await pause(300);
      const change = gallery.update(
        admin,
        { id: product.id },
        next.id,
        { is_primary: true },
        undefined,
      );
      await pause(300);
      await holder.query('COMMIT');
      const outcomes = await Promise.allSettled([deletion, change]);
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    } finally {
      await holder.end();
    }
    const rows = await db.query<{ id: string; is_primary: boolean; uploaded_by: string | null }[]>(
      'SELECT id, is_primary, uploaded_by FROM images WHERE product_id = $1 ORDER BY is_primary DESC',
      [product.id],
    );
    expect(rows[0]).toMatchObject({ id: next.id, is_primary: true });
    expect(rows.filter((row) => row.is_primary || row.uploaded_by !== null)).toHaveLength(1);
  });
});
