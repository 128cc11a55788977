import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser';
import { login, type Credential } from './http';
import { freePort } from './process';
import { startStorageBackend, type StorageBackend } from './storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from './test-app';

/** The application listening on a free loopback port, with local storage, and Chromium. */
export interface ConsoleHarness {
  backend: StorageBackend;
  t: TestApp;
  browser: Browser;
  /** Where the application listens (`http://127.0.0.1:<port>`), its PUBLIC_BASE_URL too. */
  base: string;
  /** TEST_ADMIN's bearer token, for changes made through the API beside the browser's. */
  admin: Credential;
  close(): Promise<void>;
}

/**
 * Starts the application (with `env`) and Debian's Chromium together; whichever did start is
 * closed again if the other failed. Every login comes from one address: LOGIN_RATE_LIMIT is high.
 */
export async function startConsoleHarness(
  env: Record<string, string> = {},
): Promise<ConsoleHarness> {
  const backend = await startStorageBackend('local');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const [started, launched] = await Promise.allSettled([
    startTestApp({ ...backend.env, PUBLIC_BASE_URL: base, LOGIN_RATE_LIMIT: '1000', ...env }),
    launchChromium(),
  ]);
  const t = started.status === 'fulfilled' ? started.value : undefined;
  const browser = launched.status === 'fulfilled' ? launched.value : undefined;
  const close = async () => {
    await browser?.close();
    await t?.close();
    await backend.close();
  };
  if (!t || !browser) {
    await close();
    throw started.status === 'rejected'
      ? started.reason
      : (launched as PromiseRejectedResult).reason;
  }
  await t.app.listen({ port, host: '127.0.0.1' });
  const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  return { backend, t, browser, base, admin, close };
}

/**
 * How long a console test waits for what the page should show. Generous: CI's machine has been
 * seen so loaded that a CREATE TABLE took 5 s, and a wait of 15 s then timed out once.
 */
export const CONSOLE_WAIT_MS = 30_000;

/** A new page of the console, TEST_ADMIN logged in, on the Products page. */
export async function loggedInPage(browser: Browser, base: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(CONSOLE_WAIT_MS);
  await page.goto(`${base}/console`);
  await page.getByLabel('Email or username').fill(TEST_ADMIN.email);
  await page.getByLabel('Password').fill(TEST_ADMIN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
  return page;
}
