import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { ImageProcessor } from '../../src/images/processing/image-processor';
import { Metrics } from '../../src/metrics/metrics.service';
import { eventually } from './eventually';
import { metricValue } from './metrics';

/**
 * Runs `work` while the processor's only slot (IMAGE_PROCESSING_CONCURRENCY 1) is held by an
 * image whose bytes have not arrived: its processing waits in the open of a FIFO until a writer
 * opens it, which `work` is followed by; it then fails (a FIFO cannot be read at an offset), a
 * failure handled from the start: it may come before the writer's close has returned.
 */
export async function whileSlotHeld(
  app: INestApplicationContext,
  work: () => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pis-held-'));
  const fifo = join(dir, 'original');
  execFileSync('mkfifo', [fifo]);
  const spec = { width: 100, height: 100, fit: 'cover', format: 'webp', quality: 80 } as const;
  const held = app
    .get(ImageProcessor)
    .transform({ path: fifo }, spec)
    .catch(() => undefined);
  const active = async () =>
    metricValue(await app.get(Metrics).scrape(), 'image_processing_active', {});
  try {
    await eventually(async () => (await active()) === 1, 'a held slot');
    await work();
  } finally {
    await (await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK)).close();
    await held;
    rmSync(dir, { recursive: true, force: true });
  }
}
