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

/** Where the console keeps its session: this tab's sessionStorage (console/src/session.ts). */
const SESSION_KEY = 'pis-console-session';

/**
 * The session the console stored at TEST_ADMIN's last login through its form, by the address of
 * the application: a later page starts with it (as a reload of that tab would) while the service
 * still takes its token. A login through the form costs each test about a second; the form itself
 * is tested in console.e2e-spec.ts and console-admin.e2e-spec.ts.
 */
const keptSessions = new Map<string, string>();

/** The kept session for `base`, if its token works for a while yet (no test logged it out). */
async function keptSession(base: string): Promise<string | undefined> {
  const kept = keptSessions.get(base);
  if (kept === undefined) return undefined;
  const { token, expiresAt } = JSON.parse(kept) as { token: string; expiresAt: number };
  const me = await fetch(`${base}/api/v1/auth/me`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await me.body?.cancel();
  if (me.status === 200 && expiresAt > Date.now() + 5 * 60_000) return kept;
  keptSessions.delete(base);
  return undefined;
}

/**
 * A new page of the console (in a browser context of its own: nothing kept from another test's),
 * TEST_ADMIN logged in, on the Products page: through the login form the first time, and with the
 * session the console stored then while its token works.
 */
export async function loggedInPage(browser: Browser, base: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(CONSOLE_WAIT_MS);
  const kept = await keptSession(base);
  if (kept !== undefined) {
    // In this tab's storage before the console's script reads it, for the first document only.
    const restore = await page.addInitScript({
      content: `sessionStorage.setItem(${JSON.stringify(SESSION_KEY)}, ${JSON.stringify(kept)});`,
    });
    await page.goto(`${base}/console`);
    await restore.dispose();
  } else {
    await page.goto(`${base}/console`);
    await page.getByLabel('Email or username').fill(TEST_ADMIN.email);
    await page.getByLabel('Password').fill(TEST_ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
  }
  await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
  if (kept === undefined) {
    const stored = await page.evaluate<string | null>(
      `sessionStorage.getItem(${JSON.stringify(SESSION_KEY)})`,
    );
    if (stored !== null) keptSessions.set(base, stored);
  }
  return page;
}
