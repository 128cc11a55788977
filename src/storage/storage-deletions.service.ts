import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository, type EntityManager } from 'typeorm';
import { safeError } from '../common/logging/safe-error';
import { StorageDeletion } from './entities/storage-deletion.entity';
import { STORAGE_MODULE_OPTIONS, type StorageModuleOptions } from './storage.module-definition';
import { STORAGE_PROVIDER, type StorageProvider } from './storage-provider';

const BATCH = 100;
const MAX_BACKOFF_SECONDS = 6 * 3600;

/**
 * The outbox of file deletions. Callers enqueue keys in the transaction that removes the rows
 * referring to them; after the commit the files are deleted at once, and whatever failed is
 * retried in the background with exponential back-off until it succeeds. Rows are claimed with
 * SKIP LOCKED, so several instances share the work without deleting twice.
 */
@Injectable()
export class StorageDeletionsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('StorageDeletions');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    @InjectRepository(StorageDeletion) private readonly deletions: Repository<StorageDeletion>,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    @Inject(STORAGE_MODULE_OPTIONS) private readonly options: StorageModuleOptions,
  ) {}

  onModuleInit(): void {
    const seconds = this.options.deletionRetrySeconds;
    if (seconds > 0) {
      this.timer = setInterval(() => void this.retryDue(), seconds * 1000);
      this.timer.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Records keys to delete, inside the caller's transaction. Returns the outbox row ids. */
  async enqueue(manager: EntityManager, keys: string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const rows = await manager.save(
      StorageDeletion,
      keys.map((key) => manager.create(StorageDeletion, { key })),
    );
    return rows.map((r) => r.id);
  }

  /** After the commit: tries the given deletions now; failures stay queued for the retry. */
  async attempt(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const rows = await this.deletions.findBy({ id: In(ids) });
    await Promise.all(rows.map((row) => this.deleteOne(row)));
  }

  /** Deletes what is due, in batches; returns how many deletions succeeded. */
  retryDue(): Promise<number> {
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return this.running;
  }

  private async drain(): Promise<number> {
    let done = 0;
    for (;;) {
      const claimed = await this.deletions.manager.transaction(async (manager) => {
        const due = await manager
          .createQueryBuilder(StorageDeletion, 'd')
          .where('d.next_attempt_at <= now()')
          .orderBy('d.next_attempt_at', 'ASC')
          .limit(BATCH)
          .setLock('pessimistic_write')
          .setOnLocked('skip_locked')
          .getMany();
        // Push them forward while this instance works on them, so another skips them too.
        if (due.length > 0) {
          await manager.update(
            StorageDeletion,
            { id: In(due.map((d) => d.id)) },
            { nextAttemptAt: () => "now() + interval '5 minutes'" },
          );
        }
        return due;
      });
      if (claimed.length === 0) return done;
      const results = await Promise.all(claimed.map((row) => this.deleteOne(row)));
      done += results.filter(Boolean).length;
      if (claimed.length < BATCH) return done;
    }
  }

  private async deleteOne(row: StorageDeletion): Promise<boolean> {
    try {
      await this.storage.delete(row.key);
      await this.deletions.delete({ id: row.id });
      return true;
    } catch (error) {
      const attempts = row.attempts + 1;
      const backoff = Math.min(MAX_BACKOFF_SECONDS, 2 ** attempts * 10);
      this.logger.warn(
        { err: safeError(error), key: row.key, attempts },
        'File deletion failed; will retry',
      );
      await this.deletions
        .update(
          { id: row.id },
          {
            attempts,
            lastError: safeError(error).message.slice(0, 500),
            nextAttemptAt: () => `now() + interval '${backoff} seconds'`,
          },
        )
        .catch(() => undefined);
      return false;
    }
  }
}
