import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageFilesService, type StoredFiles } from '../../src/images/image-files.service';
import { ImagesModule } from '../../src/images/images.module';
import { ImageProcessor, type ProcessedImage } from '../../src/images/processing/image-processor';
import { STORAGE_PROVIDER, type StorageProvider } from '../../src/storage/storage-provider';
import { eventually } from '../support/eventually';
import { newImage, newOrganization, newProduct } from '../support/factories';
import { pendingFileDeletions } from '../support/file-deletions';
import { solidJpeg } from '../support/fixtures';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

/**
 * A new image's files against a real database and local storage: what `withStoredFiles` (and an
 * import's `withImportedFiles`) removes when the work given it fails. Before its transaction commits, every file written goes; after
 * (the answer could not be read: a connection lost, say), the files stay with their image.
 */
describe(ImageFilesService.name, () => {
  let m: IntegrationModule;
  let files: ImageFilesService;
  let storage: StorageProvider;
  let processed: ProcessedImage;
  let scratch: string;

  beforeAll(async () => {
    m = await startIntegrationModule('default', {
      imports: [ImagesModule],
      env: { JOB_POLL_INTERVAL_MS: '500' },
    });
    files = m.get(ImageFilesService);
    storage = m.get<StorageProvider>(STORAGE_PROVIDER);
    scratch = mkdtempSync(join(tmpdir(), 'pis-image-files-'));
    const path = join(scratch, 'photo.jpg');
    writeFileSync(path, await solidJpeg(64, 48));
    processed = await m.get(ImageProcessor).process(path, files.processingOptions());
  });
  afterAll(async () => {
    rmSync(scratch, { recursive: true, force: true });
    await m?.close();
  });

  /** A new image of a new product: where its files go, and its row, made as `use` would. */
  async function newUpload() {
    const organization = await newOrganization(m.dataSource);
    const product = await newProduct(m.dataSource, { organizationId: organization.id });
    const of = { imageId: randomUUID(), productId: product.id, organizationId: organization.id };
    const commit = async (stored: StoredFiles) => {
      await newImage(m.dataSource, { id: of.imageId, ...of });
      await m.dataSource.query(
        `UPDATE images SET storage_key = $2, renditions = $3 WHERE id = $1`,
        [of.imageId, stored.storageKey, JSON.stringify(stored.renditions)],
      );
    };
    return { of, commit, product };
  }

  const keysOf = (stored: StoredFiles) => [
    stored.storageKey,
    ...Object.values(stored.renditions).map((r) => r.key),
  ];
  const existing = async (keys: string[]) =>
    (await Promise.all(keys.map((key) => storage.exists(key)))).filter(Boolean).length;

  it('deletes the files written when the work fails before anything committed', async () => {
    const { of } = await newUpload();
    let stored: StoredFiles | undefined;
    await expect(
      files.withStoredFiles(processed, of, (written) => {
        stored = written;
        return Promise.reject(new Error('the transaction failed'));
      }),
    ).rejects.toThrow('the transaction failed');
    const keys = keysOf(stored!);
    expect(keys.length).toBeGreaterThan(1);
    await eventually(async () => (await existing(keys)) === 0, 'the files to be deleted');
  });

  it('keeps the files of an image whose row committed before the work failed', async () => {
    const { of, commit } = await newUpload();
    let stored: StoredFiles | undefined;
    await expect(
      files.withStoredFiles(processed, of, async (written) => {
        stored = written;
        await commit(written);
        throw new Error('the answer could not be read');
      }),
    ).rejects.toThrow('the answer could not be read');
    const keys = keysOf(stored!);
    expect(await existing(keys)).toBe(keys.length);
    // Nor queued for deletion later: the image is there to stay.
    const pending = await pendingFileDeletions(m.dataSource);
    expect(pending.filter((key) => keys.includes(key))).toEqual([]);
    expect(await existing(keys)).toBe(keys.length);
  });

  it('keeps the files of an import whose row committed before the work failed', async () => {
    const { of, commit, product } = await newUpload();
    const fill = { width: 32, height: 32 };
    let stored: StoredFiles | undefined;
    await expect(
      files.withImportedFiles(processed, of, fill, async (storeUnderLock) => {
        stored = await m.dataSource.transaction((manager) => storeUnderLock(product, manager));
        await commit(stored);
        throw new Error('the answer could not be read');
      }),
    ).rejects.toThrow('the answer could not be read');
    const keys = keysOf(stored!);
    const pending = await pendingFileDeletions(m.dataSource);
    expect(pending.filter((key) => keys.includes(key))).toEqual([]);
    expect(await existing(keys)).toBe(keys.length);
  });

  it('keeps the files when the connection was lost, maybe during the commit, for the orphan sweep', async () => {
    const { of } = await newUpload();
    let stored: StoredFiles | undefined;
    // What the driver reports when the server ends the connection (pg_terminate_backend, a
    // failover): whether the COMMIT went through cannot be known yet.
    const lost = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    await expect(
      files.withStoredFiles(processed, of, (written) => {
        stored = written;
        return Promise.reject(lost);
      }),
    ).rejects.toBe(lost);
    const keys = keysOf(stored!);
    const pending = await pendingFileDeletions(m.dataSource);
    expect(pending.filter((key) => keys.includes(key))).toEqual([]);
    expect(await existing(keys)).toBe(keys.length);
  });
});
