import type { Page, Route } from 'playwright-core';
import sharp from 'sharp';
import { Role } from '../../src/auth/roles';
import { expectAccessible } from '../support/accessibility';
import { addUser, TEST_PASSWORD } from '../support/accounts';
import {
  CONSOLE_WAIT_MS,
  startConsoleHarness,
  type ConsoleHarness,
} from '../support/console-harness';
import { eventually, eventuallyRead } from '../support/eventually';
import { call, login } from '../support/http';

const NEW_PASSWORD = 'a brand new console passphrase';

/**
 * A person changes their own password in the console (POST /api/v1/auth/password), in Debian's
 * Chromium: from the header, beside Log out; the new token taken in without their view or an
 * upload on its way being lost; every refusal said where it belongs. A page error fails the test.
 */
describe('The console’s Change password dialog', () => {
  let h: ConsoleHarness;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    h = await startConsoleHarness();
  });

  afterAll(() => h?.close());

  afterEach(async () => {
    await page?.context().close();
    expect(errors.splice(0)).toEqual([]);
  });

  /** A new staff member with a product of their own, logged in through the form on its gallery. */
  async function galleryAs(username: string): Promise<{ productId: string }> {
    const credential = await addUser(h.t.app, h.admin, username, Role.Staff);
    const created = await call(h.t.app, 'POST', '/api/v1/products', credential, {
      name: `${username}'s socks`,
    });
    expect(created.statusCode).toBe(201);
    const productId = created.json<{ id: string }>().id;
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(CONSOLE_WAIT_MS);
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${h.base}/console/products/${productId}`);
    await page.getByLabel('Email or username').fill(username);
    await page.getByLabel('Password').fill(TEST_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
    return { productId };
  }

  /** The token the console holds (its session in this tab's storage). */
  const consoleToken = async () =>
    JSON.parse(
      (await page.evaluate<string | null>('sessionStorage.getItem("pis-console-session")')) ??
        'null',
    ) as { token: string } | null;

  /** GET /api/v1/auth/me's status with `token`. */
  const meWith = async (token: string) =>
    (await call(h.t.app, 'GET', '/api/v1/auth/me', { bearer: token })).statusCode;

  const dialog = () => page.getByRole('dialog', { name: 'Change password' });
  const focusedId = () => page.evaluate<string>('document.activeElement?.id ?? ""');
  const focusOn = (id: string) =>
    eventually(async () => (await focusedId()) === id, `the focus on #${id}`, 5_000);

  async function openDialog(): Promise<void> {
    await page.getByRole('banner').getByRole('button', { name: 'Change password' }).click();
    await dialog().waitFor();
  }

  /** Fills the form; Enter in the last field sends it. */
  async function fill(current: string, next: string, confirm = next): Promise<void> {
    await dialog().getByLabel('Current password').fill(current);
    await dialog().getByLabel('New password', { exact: true }).fill(next);
    await dialog().getByLabel('Confirm new password').fill(confirm);
    await dialog().getByLabel('Confirm new password').press('Enter');
  }

  it('changes the password: the old tokens are refused, the console goes on with its new one, an upload on its way included', async () => {
    const { productId } = await galleryAs('pat');
    const before = (await consoleToken())!.token;
    const elsewhere = await login(h.t.app, { username: 'pat' }, TEST_PASSWORD);
    // An upload held on its way (sent with the token the console had) until the change is done.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route(`**/api/v1/products/${productId}/images`, async (route: Route) => {
      if (route.request().method() === 'POST') await held;
      await route.fallback();
    });
    const png = await sharp({
      create: { width: 32, height: 24, channels: 3, background: { r: 10, g: 120, b: 60 } },
    })
      .png()
      .toBuffer();
    await page
      .locator('#upload-files')
      .setInputFiles([{ name: 'green.png', mimeType: 'image/png', buffer: png }]);

    await openDialog();
    // For password managers; the focus in the first field.
    const autocomplete = (label: string) =>
      dialog().getByLabel(label, { exact: true }).getAttribute('autocomplete');
    await expect(autocomplete('Current password')).resolves.toBe('current-password');
    await expect(autocomplete('New password')).resolves.toBe('new-password');
    await expect(autocomplete('Confirm new password')).resolves.toBe('new-password');
    await focusOn('current-password');
    await expectAccessible(page, 'the Change password dialog');
    await fill(TEST_PASSWORD, NEW_PASSWORD);
    await expect(dialog().getByRole('status').innerText()).resolves.toMatch(
      /password has been changed\. Every other session of yours .* has been logged out/,
    );
    await focusOn('password-changed-done');
    await dialog().getByRole('button', { name: 'Done' }).click();
    await dialog().waitFor({ state: 'hidden' });
    release();

    // Every token issued before the change is refused; the console holds a new one that works.
    const after = (await consoleToken())!.token;
    expect(after).not.toBe(before);
    await expect(meWith(before)).resolves.toBe(401);
    await expect(meWith(elsewhere)).resolves.toBe(401);
    await expect(meWith(after)).resolves.toBe(200);
    // The view stayed, logged in, and the upload sent with the old token went again with the new.
    const state = page.locator('.uploads > li[data-upload="green.png"] .upload-state');
    await eventuallyRead(
      () => state.innerText(),
      (shown) => shown === 'Uploaded',
      'green.png',
    );
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
    await expect(page.getByRole('dialog', { name: 'Log in again' }).count()).resolves.toBe(0);
    expect(page.url()).toBe(`${h.base}/console/products/${productId}`);
    const images = await call(h.t.app, 'GET', `/api/v1/products/${productId}/images`, h.admin);
    expect(images.json<{ items: { title: string }[] }>().items.map((i) => i.title)).toEqual([
      'green',
    ]);
    // The new password logs in, the old one no longer; neither was kept in the tab.
    await expect(login(h.t.app, { username: 'pat' }, NEW_PASSWORD)).resolves.toEqual(
      expect.any(String),
    );
    await expect(login(h.t.app, { username: 'pat' }, TEST_PASSWORD)).rejects.toThrow(/401/);
    const kept = await page.evaluate<string>(
      'JSON.stringify([location.href, { ...sessionStorage }, { ...localStorage }])',
    );
    expect(kept).not.toContain(NEW_PASSWORD);
    expect(kept).not.toContain(TEST_PASSWORD);
  });

  it('says a wrong current password, a too short new one, a mismatch and the rate limit on their fields', async () => {
    await galleryAs('quinn');
    const before = (await consoleToken())!.token;
    await openDialog();
    const fieldError = (id: string) => dialog().locator(`#${id}-error`);

    // Checked here: nothing sent.
    await fill(TEST_PASSWORD, NEW_PASSWORD, 'something else entirely');
    await expect(fieldError('confirm-password').innerText()).resolves.toMatch(/differ/);

    // The service's refusal of a wrong current password, on its field, which takes the focus.
    await fill('not my password at all', NEW_PASSWORD);
    await expect(fieldError('current-password').innerText()).resolves.toBe(
      'The current password is wrong. Nothing was changed.',
    );
    await expect(
      dialog().getByLabel('Current password').getAttribute('aria-invalid'),
    ).resolves.toBe('true');
    await focusOn('current-password');
    await expectAccessible(page, 'the Change password dialog with an error');

    // Too short: the service's rule, on the new password's field.
    await fill(TEST_PASSWORD, 'too short');
    await expect(fieldError('new-password').innerText()).resolves.toMatch(
      /^The new password must be longer than or equal to 12 characters/,
    );
    await expect(fieldError('current-password').count()).resolves.toBe(0);

    // Limited (as the service answers it after too many attempts): when to try again.
    await page.route('**/api/v1/auth/password', (route) =>
      route.fulfill({
        status: 429,
        headers: { 'retry-after': '42', 'content-type': 'application/problem+json' },
        body: JSON.stringify({
          type: 'about:blank',
          title: 'Too many login attempts',
          status: 429,
          code: 'login_rate_limited',
          detail: 'Too many login attempts. Try again later.',
        }),
      }),
    );
    await fill(TEST_PASSWORD, NEW_PASSWORD);
    await expect(dialog().getByRole('alert').innerText()).resolves.toMatch(
      /Too many password attempts .*Try again in 42 seconds \(at .+\)\./,
    );
    await expect(
      dialog().getByRole('button', { name: 'Change password' }).isDisabled(),
    ).resolves.toBe(true);

    // Escape closes it, the focus back on the header's button; nothing changed.
    await page.keyboard.press('Escape');
    await dialog().waitFor({ state: 'hidden' });
    await eventually(
      async () =>
        (await focusedId()) === '' &&
        (await page.evaluate<string>('document.activeElement?.textContent ?? ""')) ===
          'Change password',
      'the focus back on Change password',
      5_000,
    );
    await expect(meWith(before)).resolves.toBe(200);
    await expect(login(h.t.app, { username: 'quinn' }, TEST_PASSWORD)).resolves.toEqual(
      expect.any(String),
    );
  });
});
