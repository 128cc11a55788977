import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { ImageFilesService } from '../images/image-files.service';
import { StorageDeletionsService } from '../storage/storage-deletions.service';
import { OrganizationDeletionRepository } from './organization-deletion.repository';

/**
 * Images deleted (and their files queued) per transaction: a few dozen file-deletion jobs, rows
 * and keys of one batch in memory, locks held for a moment, whatever the catalogue's size.
 */
export const IMAGES_PER_TRANSACTION = 500;
/** Imports (each with its rows) or Idempotency-Keys deleted per transaction. */
const ROWS_PER_TRANSACTION = 1000;

/** What a deletion removed, as `delete-organization` prints it. */
export interface OrganizationDeletionSummary {
  organization: string;
  products: number;
  images: number;
  users: number;
  api_keys: number;
  imports: number;
  idempotency_keys: number;
  /** Storage keys queued for deletion (a prefix of transform results, `derived/<id>/`, is one). */
  files_queued: number;
}

type Counts = Omit<OrganizationDeletionSummary, 'organization'>;

/**
 * Deletes an organisation and everything of it (`npm run -s cli -- delete-organization`). First
 * its access ends (API keys deleted, users disabled); then its products, with their images, and
 * its stand-alone images go in bounded transactions, each queueing the deletion of the files of
 * the images it deletes (StorageDeletionsService, as a product's deletion does), so that a crash
 * at any point leaves neither a file without a queued deletion nor a row naming a deleted file;
 * then its imports and Idempotency-Keys; last, with the organisation's row locked (no insert
 * referencing it can be under way or start), what a request still in flight added, its users and
 * the row itself. Run again after a crash, it finishes what remains.
 */
@Injectable()
export class OrganizationDeletionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: OrganizationDeletionRepository,
    private readonly files: ImageFilesService,
    private readonly deletions: StorageDeletionsService,
  ) {}

  /**
   * One run at a time per organisation: a second one, while the first holds it, is refused
   * (`conflict`), doing nothing, rather than sharing the rows and printing counts of its own.
   */
  async delete(
    slug: string,
    imagesPerTransaction = IMAGES_PER_TRANSACTION,
  ): Promise<OrganizationDeletionSummary> {
    const found = await this.repository.findBySlug(this.dataSource.manager, slug);
    if (!found) throw notFound(slug);
    const session = this.dataSource.createQueryRunner();
    await session.connect();
    try {
      if (!(await this.repository.markDeleting(session.manager, found.id))) {
        throw new AppError(
          'conflict',
          `Organisation "${slug}" is already being deleted by another run: nothing was done ` +
            'here (that run prints what it deleted; run again once it has ended, to check).',
        );
      }
      try {
        // Deleted meanwhile, by a run that ended between the look-up and the mark.
        if (!(await this.repository.findBySlug(this.dataSource.manager, slug))) {
          throw notFound(slug);
        }
        return { organization: slug, ...(await this.deleteAll(found.id, imagesPerTransaction)) };
      } finally {
        await this.repository.unmarkDeleting(session.manager, found.id);
      }
    } finally {
      await session.release();
    }
  }

  private async deleteAll(id: string, imagesPerTransaction: number): Promise<Counts> {
    const counts: Counts = {
      products: 0,
      images: 0,
      users: 0,
      api_keys: 0,
      imports: 0,
      idempotency_keys: 0,
      files_queued: 0,
    };
    await this.dataSource.transaction(async (manager) => {
      counts.api_keys += await this.repository.deleteApiKeys(manager, id);
      await this.repository.disableUsers(manager, id);
    });
    // Each batch its own transaction; the last one (below) takes what was added meanwhile.
    while (
      await this.inTransaction((m) => this.catalogueBatch(m, id, counts, imagesPerTransaction))
    );
    while (await this.inTransaction((m) => this.rowsBatch(m, id, counts)));
    await this.inTransaction(async (manager) => {
      if (!(await this.repository.lock(manager, id))) return false;
      while (await this.catalogueBatch(manager, id, counts, imagesPerTransaction));
      while (await this.rowsBatch(manager, id, counts));
      counts.api_keys += await this.repository.deleteApiKeys(manager, id);
      counts.users += await this.repository.deleteUsers(manager, id);
      await this.repository.deleteOrganization(manager, id);
      return true;
    });
    return counts;
  }

  /** A transaction; once committed, this process's file-deletion worker is woken. */
  private async inTransaction(
    work: (manager: EntityManager) => Promise<boolean>,
  ): Promise<boolean> {
    const more = await this.dataSource.transaction(work);
    this.deletions.afterCommit();
    return more;
  }

  /**
   * A batch of products with their images, or, once there are none, of stand-alone images: rows
   * deleted and files queued together. False when there was nothing left.
   */
  private async catalogueBatch(
    manager: EntityManager,
    id: string,
    counts: Counts,
    limit: number,
  ): Promise<boolean> {
    const batch = await this.repository.deleteProductBatch(manager, id, limit);
    const images =
      batch.products > 0 || batch.images.length > 0
        ? batch.images
        : await this.repository.deleteStandaloneBatch(manager, id, limit);
    if (batch.products === 0 && images.length === 0) return false;
    const keys = [...new Set(images.flatMap((image) => this.files.keysOf(image)))];
    await this.deletions.enqueue(manager, keys, id);
    counts.products += batch.products;
    counts.images += images.length;
    counts.files_queued += keys.length;
    return true;
  }

  /** A batch of imports, or else of Idempotency-Keys. False when there was nothing left. */
  private async rowsBatch(manager: EntityManager, id: string, counts: Counts): Promise<boolean> {
    const imports = await this.repository.deleteImportBatch(manager, id, ROWS_PER_TRANSACTION);
    counts.imports += imports;
    if (imports > 0) return true;
    const keys = await this.repository.deleteIdempotencyKeyBatch(manager, id, ROWS_PER_TRANSACTION);
    counts.idempotency_keys += keys;
    return keys > 0;
  }
}

function notFound(slug: string): AppError {
  return new AppError('not_found', `No organisation "${slug}".`);
}
