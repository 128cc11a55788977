import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { safeError } from '../../common/logging/safe-error';
import { IMAGES_CONFIG, type ImagesConfig } from '../images.config';
import { checkSpoolWritable, uploadTempDir } from './upload-spool';

/**
 * Older than any upload could still be in flight, even on another instance sharing DATA_DIR: a
 * request must have arrived within HTTP_REQUEST_TIMEOUT_MS (an hour at most), and is processed in
 * seconds.
 */
export const STALE_SPOOL_MS = 60 * 60 * 1000;

/**
 * Each request removes its own spooled files whichever way it ends (see RequestSpool); only a
 * crash can leave one. This sweep is the safety net: files older than an hour in the spool folder
 * are removed at start-up and every UPLOAD_SPOOL_SWEEP_SECONDS.
 */
@Injectable()
export class UploadSpoolSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('UploadSpool');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(@Inject(IMAGES_CONFIG) private readonly config: ImagesConfig) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.checkWritable();
    await this.sweep();
    const seconds = this.config.UPLOAD_SPOOL_SWEEP_SECONDS;
    if (seconds === 0) return;
    this.timer = setInterval(() => void this.sweep(), seconds * 1000);
    this.timer.unref();
  }

  /** A sweep under way finishes before the application closes. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * The spool's folder can be made and written: else the start fails, naming it, rather than
   * every upload later (DATA_DIR a file, on a read-only disk, not the service's to write).
   */
  private async checkWritable(): Promise<void> {
    const dir = uploadTempDir(this.config);
    try {
      await checkSpoolWritable(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new Error(
        `DATA_DIR: uploads cannot be written to ${dir} (${code}); give the service a folder ` +
          'it can write (see DATA_DIR)',
        { cause: error },
      );
    }
  }

  /** Removes stale spool files; returns how many. Never throws (it logs). */
  sweep(): Promise<number> {
    this.running ??= this.removeStale()
      .catch((error: unknown) => {
        this.logger.error({ err: safeError(error) }, 'Sweep of the upload spool failed');
        return 0;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async removeStale(): Promise<number> {
    const dir = uploadTempDir(this.config);
    const names = await readdir(dir).catch(() => [] as string[]);
    const cutoff = Date.now() - STALE_SPOOL_MS;
    let removed = 0;
    for (const name of names) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info?.isFile() && info.mtimeMs < cutoff) {
        await rm(path, { force: true });
        removed++;
      }
    }
    if (removed > 0) this.logger.warn(`Removed ${removed} stale upload spool file(s)`);
    return removed;
  }
}
