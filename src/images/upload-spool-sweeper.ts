import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { EnvironmentVariables } from '../config/env.validation';
import { uploadTempDir } from './image-upload.pipe';

/** Older than any upload could still be in flight, even on another instance sharing DATA_DIR. */
export const STALE_SPOOL_MS = 60 * 60 * 1000;

/**
 * Spooled uploads are removed when their request ends; a crash mid-upload can still leave one.
 * At start-up, files older than an hour in the spool folder are removed.
 */
@Injectable()
export class UploadSpoolSweeper implements OnApplicationBootstrap {
  private readonly logger = new Logger('UploadSpool');

  constructor(private readonly env: EnvironmentVariables) {}

  async onApplicationBootstrap(): Promise<void> {
    const dir = uploadTempDir(this.env);
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
    if (removed > 0) this.logger.log(`Removed ${removed} stale upload spool file(s)`);
  }
}
