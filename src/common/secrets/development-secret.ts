import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';

/**
 * A random secret generated once and kept in `<dataDir>/<fileName>` (mode 0600), for development
 * without the setting that production requires: restarts keep it (sessions, signed URLs), and a
 * warning names the setting to use instead. Two processes starting together read the same file.
 */
export function developmentSecret(dataDir: string, fileName: string, setting: string): string {
  const dir = resolve(dataDir);
  const file = join(dir, fileName);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    // 'wx' fails if another process created it meanwhile; then both read the same file below.
    try {
      writeFileSync(file, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
      new Logger('Secrets').warn(
        `${setting} is not set; generated a development secret in ${file}. Set ${setting} in production.`,
      );
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}
