import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_KEY_CACHE_TTL_MS } from '../../src/auth/api-key-cache';
import { AuthModule } from '../../src/auth/auth.module';
import { PrincipalService } from '../../src/auth/principal.service';
import { Role } from '../../src/auth/roles';
import { AppError } from '../../src/common/errors/app.error';
import { StandaloneUploadService } from '../../src/images/assets/standalone-upload.service';
import { ImagePurpose, type Image } from '../../src/images/entities/image.entity';
import { ImportFormat } from '../../src/imports/entities/bulk-import.entity';
import { ImportsModule } from '../../src/imports/imports.module';
import { ImportsService } from '../../src/imports/imports.service';
import { OrganizationDeletionService } from '../../src/organizations/organization-deletion.service';
import { OrganizationsModule } from '../../src/organizations/organizations.module';
import { ProductsService } from '../../src/products/products.service';
import { StorageDeletionsService } from '../../src/storage/storage-deletions.service';
import { derivedPrefix } from '../../src/storage/storage-keys';
import { STORAGE_PROVIDER, type StorageProvider } from '../../src/storage/storage-provider';
import { eventually } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import {
  contextFor,
  newApiKey,
  newImage,
  newOrganization,
  newProduct,
  newUser,
  type PutFile,
} from '../support/factories';
import { pendingFileDeletions } from '../support/file-deletions';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** Every table that holds an organisation's rows, by the column naming it. */
const TABLES = ['products', 'images', 'users', 'api_keys', 'imports', 'idempotency_keys'];

/**
 * `delete-organization`'s service against a real database and local storage, its file-deletion
 * jobs worked by this module: in batches smaller than the catalogue, every row of the
 * organisation goes, its files (transform results included) once the jobs ran; another
 * organisation keeps its rows and files; the deleted one's API key stops authenticating.
 */
describe(OrganizationDeletionService.name, () => {
  let m: IntegrationModule;
  let storage: StorageProvider;
  let put: PutFile;

  beforeAll(async () => {
    m = await startIntegrationModule('default', {
      imports: [OrganizationsModule, AuthModule, ImportsModule],
      env: { JOB_POLL_INTERVAL_MS: '500' },
    });
    storage = m.get<StorageProvider>(STORAGE_PROVIDER);
    put = (key, data, contentType) => storage.put(key, data, { contentType, cacheControl: '' });
  });
  afterAll(() => m?.close());

  /** An organisation with products (3 images each), stand-alone images, accounts and rows. */
  async function catalogue() {
    const org = await newOrganization(m.dataSource);
    const organizationId = org.id;
    const user = await newUser(m.dataSource, { organizationId, role: Role.Admin });
    const { key } = await newApiKey(m.dataSource, { organizationId, createdBy: user });
    const keys: string[] = [];
    for (let p = 0; p < 3; p++) {
      const { id: productId } = await newProduct(m.dataSource, { organizationId });
      for (let i = 0; i < 3; i++) {
        const image = await newImage(m.dataSource, { organizationId, productId, put });
        keys.push(image.storageKey);
      }
    }
    for (let i = 0; i < 3; i++) {
      const image = await newImage(m.dataSource, { organizationId, put, uploadedById: user.id });
      // A transform URL's result, kept under the image's derived/ prefix.
      const result = `${derivedPrefix(image.id)}w100.webp`;
      await put(result, Buffer.from('result'), 'image/webp');
      keys.push(image.storageKey, result);
    }
    await m.dataSource.query(
      `INSERT INTO imports (organization_id, principal, format) VALUES ($1, '{}', 'csv')`,
      [organizationId],
    );
    await m.dataSource.query(
      `INSERT INTO idempotency_keys (organization_id, principal_type, principal_id, key, claim_id,
                                     request_method, request_path, expires_at)
       VALUES ($1, 'user', $2, 'k1', $3, 'POST', '/api/v1/products', now() + interval '1 day')`,
      [organizationId, user.id, randomUUID()],
    );
    return { org, key, keys };
  }

  const rowsOf = async (organizationId: string) =>
    Object.fromEntries(
      await Promise.all(
        TABLES.map(async (table) => {
          const [{ n }] = await m.dataSource.query<{ n: number }[]>(
            `SELECT count(*)::int AS n FROM ${table} WHERE organization_id = $1`,
            [organizationId],
          );
          return [table, n] as const;
        }),
      ),
    );
  const existing = async (keys: string[]) =>
    (await Promise.all(keys.map((key) => storage.exists(key)))).filter(Boolean).length;

  it('deletes every row and, through the jobs, every file of the organisation, and nothing else', async () => {
    const doomed = await catalogue();
    const kept = await catalogue();
    const principals = m.get(PrincipalService);
    // Read once before: as an instance that had just admitted it caches the key's row.
    expect(await principals.forApiKey(doomed.key)).toBeDefined();

    // Two images a transaction: many batches for the 12 images.
    const summary = await m.get(OrganizationDeletionService).delete(doomed.org.slug, 2);

    expect(summary).toEqual({
      organization: doomed.org.slug,
      products: 3,
      images: 12,
      users: 1,
      api_keys: 1,
      imports: 1,
      idempotency_keys: 1,
      // Each image's original, and each one's derived/ prefix (local storage keeps results).
      files_queued: 24,
    });
    expect(Object.values(await rowsOf(doomed.org.id))).toEqual(TABLES.map(() => 0));
    const [org] = await m.dataSource.query('SELECT 1 FROM organizations WHERE id = $1', [
      doomed.org.id,
    ]);
    expect(org).toBeUndefined();
    await eventually(async () => (await existing(doomed.keys)) === 0, 'the files to be deleted');
    await eventually(async () => (await pendingFileDeletions(m.dataSource)).length === 0);

    expect(await rowsOf(kept.org.id)).toEqual({
      products: 3,
      images: 12,
      users: 1,
      api_keys: 1,
      imports: 1,
      idempotency_keys: 1,
    });
    expect(await existing(kept.keys)).toBe(kept.keys.length);
    expect(await principals.forApiKey(kept.key)).toBeDefined();
    // Once a running instance's copy of its row has lapsed, the deleted key authenticates nothing.
    await eventually(
      async () => (await principals.forApiKey(doomed.key)) === undefined,
      'the deleted key to be refused',
      API_KEY_CACHE_TTL_MS + 5_000,
    );
  });

  it('deletes a product with more images than a transaction takes in several transactions', async () => {
    const org = await newOrganization(m.dataSource);
    const organizationId = org.id;
    const { id: productId } = await newProduct(m.dataSource, { organizationId });
    const keys: string[] = [];
    for (let i = 0; i < 5; i++) {
      keys.push((await newImage(m.dataSource, { organizationId, productId, put })).storageKey);
    }
    // Each enqueue is one transaction's files: at most 2 images (original and derived/ prefix).
    const enqueue = jest.spyOn(m.get(StorageDeletionsService), 'enqueue');
    try {
      const summary = await m.get(OrganizationDeletionService).delete(org.slug, 2);
      expect(summary).toMatchObject({ products: 1, images: 5, files_queued: 10 });
      const perTransaction = enqueue.mock.calls.map(([, queued]) => queued.length);
      expect(perTransaction).toEqual([4, 4, 2]);
    } finally {
      enqueue.mockRestore();
    }
    expect(Object.values(await rowsOf(organizationId))).toEqual(TABLES.map(() => 0));
    await eventually(async () => (await existing(keys)) === 0, 'the files to be deleted');
  });

  it('answers an import still arriving into it as its credential gone (401), not a 500', async () => {
    const { org } = await catalogue();
    const deletions = m.get(OrganizationDeletionService);
    const row = (n: number) => ({ gtin: '96385074', url: `https://images.example/${n}.jpg` });
    async function* rows() {
      yield row(1);
      // The operator deletes the organisation while the body is still arriving.
      await deletions.delete(org.slug);
      yield row(2);
    }
    const arriving = m
      .get(ImportsService)
      .create(contextFor(org, 'api_key'), { format: ImportFormat.Csv, rows: rows() });
    await expect(arriving).rejects.toMatchObject({ code: 'invalid_api_key' });
    const [{ n }] = await m.dataSource.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM imports WHERE organization_id = $1',
      [org.id],
    );
    expect(n).toBe(0);
  });

  it('answers a product, an import or a stand-alone upload made into it once gone (a cached key) as its credential gone (401), not a 500', async () => {
    const { org } = await catalogue();
    // Deleted, while another instance's 5-second copy of the key's row still admits the key: a
    // request with a JSON body (no second look at the credential) reaches the INSERT.
    await m.get(OrganizationDeletionService).delete(org.slug);
    for (const type of ['api_key', 'user'] as const) {
      const ctx = contextFor(org, type);
      const code = type === 'api_key' ? 'invalid_api_key' : 'invalid_token';
      await expect(m.get(ProductsService).create(ctx, { name: 'Late' })).rejects.toMatchObject({
        code,
      });
      const rows = [{ gtin: '96385074', url: 'https://images.example/1.jpg' }];
      const importing = m.get(ImportsService).create(ctx, { format: ImportFormat.Json, rows });
      await expect(importing).rejects.toMatchObject({ code });
    }
    // A stand-alone upload, its credential asked again once its body arrived, whose organisation
    // goes while it is processed: refused as well, its files deleted.
    const stored = async () => {
      const keys: string[] = [];
      for await (const { key } of storage.list('uploads/')) keys.push(key);
      return keys.sort();
    };
    const before = await stored();
    const dir = await mkdtemp(join(tmpdir(), 'org-gone-'));
    try {
      const path = join(dir, 'late.jpg');
      await writeFile(path, await solidJpeg());
      const upload = { file: { path, size: (await stat(path)).size, filename: 'late.jpg' } };
      const fields = { purpose: ImagePurpose.Product };
      const storing = m
        .get(StandaloneUploadService)
        .upload(contextFor(org, 'api_key'), { ...upload, fields });
      await expect(storing).rejects.toMatchObject({ code: 'invalid_api_key' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(Object.values(await rowsOf(org.id))).toEqual(TABLES.map(() => 0));
    await eventually(async () => (await pendingFileDeletions(m.dataSource)).length === 0);
    expect(await stored()).toEqual(before);
  });

  // Two sessions at once: the embedded database has one.
  const onServer = AVAILABLE_BACKENDS.includes('postgres') ? it : it.skip;

  onServer(
    'waits for an upload committing into the organisation, and queues its files too',
    async () => {
      const org = await newOrganization(m.dataSource);
      const upload = m.dataSource.createQueryRunner();
      await upload.connect();
      await upload.startTransaction();
      let image: Image | undefined;
      let deleting: Promise<unknown> | undefined;
      try {
        // An upload's row inserted, not committed yet (its files are written first, as uploads do).
        image = await newImage(upload.manager, { organizationId: org.id, put });
        deleting = m.get(OrganizationDeletionService).delete(org.slug);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await upload.commitTransaction();
      } finally {
        if (upload.isTransactionActive) await upload.rollbackTransaction();
        await upload.release();
      }
      await expect(deleting).resolves.toMatchObject({ images: 1, files_queued: 2 });
      await eventually(
        async () => (await existing([image.storageKey])) === 0,
        "the late upload's file to be deleted",
      );
    },
  );

  onServer(
    'run twice at once, deletes everything in one run and refuses the other, which did nothing',
    async () => {
      const doomed = await catalogue();
      const service = m.get(OrganizationDeletionService);
      const runs = await Promise.allSettled([
        service.delete(doomed.org.slug, 2),
        service.delete(doomed.org.slug, 2),
      ]);
      const done = runs.filter((run) => run.status === 'fulfilled');
      const refused = runs.filter((run) => run.status === 'rejected');
      // One run's counts are the whole deletion's; the other says so instead of printing zeros.
      expect(done.map((run) => run.value)).toEqual([
        expect.objectContaining({ products: 3, images: 12, users: 1, files_queued: 24 }),
      ]);
      expect(refused.map((run) => (run.reason as AppError).code)).toEqual([
        expect.stringMatching(/^(conflict|not_found)$/),
      ]);
      expect(Object.values(await rowsOf(doomed.org.id))).toEqual(TABLES.map(() => 0));
      await eventually(async () => (await existing(doomed.keys)) === 0, 'the files to be deleted');
    },
  );

  onServer('refuses a run while another holds the organisation, naming it', async () => {
    const { org } = await catalogue();
    const other = m.dataSource.createQueryRunner();
    await other.connect();
    try {
      // Another run's mark, as a run in another process holds it.
      await other.query('SELECT pg_advisory_lock(hashtext($1))', [
        `organization-deletion:${org.id}`,
      ]);
      const refused = m.get(OrganizationDeletionService).delete(org.slug);
      await expect(refused).rejects.toMatchObject({
        code: 'conflict',
        detail: expect.stringContaining(`"${org.slug}" is already being deleted`),
      });
      expect((await rowsOf(org.id)).images).toBe(12);
    } finally {
      await other.release();
    }
    await expect(m.get(OrganizationDeletionService).delete(org.slug)).resolves.toMatchObject({
      images: 12,
    });
  });

  it('refuses an unknown organisation, deleting nothing', async () => {
    const kept = await catalogue();
    const refused = m.get(OrganizationDeletionService).delete(`no-${kept.org.slug}`);
    await expect(refused).rejects.toBeInstanceOf(AppError);
    await expect(refused).rejects.toMatchObject({ code: 'not_found' });
    expect((await rowsOf(kept.org.id)).images).toBe(12);
  });
});
