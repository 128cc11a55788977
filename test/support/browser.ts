import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium headless shell (`apt-get install chromium-headless-shell`), else its full
 * Chromium (`apt-get install chromium`); playwright-core never downloads a browser. The shell is
 * the same engine without the browser's user interface: the browser files took 93 s and 166
 * CPU-seconds with it against 123 s and 225 with the full Chromium on 2 cores (some 15 % of
 * the suite's CPU went to Chromium on a CI machine), the same 131 tests passing.
 */
export const CHROMIUM_PATH =
  process.env.CHROMIUM_PATH ??
  ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find((path) => existsSync(path)) ??
  '/usr/bin/chromium';

/** Flags that work on these machines (see STACK-NOTES): no sandbox, GPU, QUIC or background traffic. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Where browser tests leave screenshots (ignored by git). */
export const TEST_OUTPUT_DIR = join(__dirname, '..', '..', 'test-output');

export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** A headless Chromium with a fresh profile (playwright makes a temporary one per launch). */
export async function launchChromium(): Promise<Browser> {
  if (!hasChromium()) {
    throw new Error(
      `No Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium-headless-shell (or chromium)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 20_000,
  });
}

/** A path for a screenshot under test-output/, its folder created. */
export function screenshotPath(name: string): string {
  mkdirSync(TEST_OUTPUT_DIR, { recursive: true });
  return join(TEST_OUTPUT_DIR, `${name}.png`);
}
