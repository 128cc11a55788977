import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * Generates the TypeScript client of openapi.json with @hey-api/openapi-ts into .tmp/sdk (see
 * scripts/sdk.mjs), as a user of the API would. Run by the e2e project's globalSetup, so that test/e2e/sdk.e2e-spec.ts, which imports the
 * client, always uses one made from the committed document.
 */
export function generateSdk(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'sdk.mjs')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** {@link generateSdk} without blocking: the global set-up migrates meanwhile. */
export async function generateSdkAsync(): Promise<void> {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'sdk.mjs')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`scripts/sdk.mjs failed (${signal ?? `exit code ${code}`})`);
}
