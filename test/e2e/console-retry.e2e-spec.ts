import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { loggedInPage, startConsoleHarness, type ConsoleHarness } from '../support/console-harness';
import { call, uploadToNewProduct, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import type { TestApp } from '../support/test-app';

/**
 * A view whose read failed for a reason that passes (the service briefly unavailable, busy, no
 * answer) offers to read it again, in Debian's Chromium: the failure said as an alert, a
 * "Try again" button pressed from the keyboard, and the view then showing what was read.
 */
describe('The gallery console after a read that failed', () => {
  let h: ConsoleHarness;
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let base: string;
  let admin: Credential;

  beforeAll(async () => {
    h = await startConsoleHarness();
    ({ t, browser, base, admin } = h);
  });

  afterAll(() => h?.close());

  beforeEach(async () => {
    page = await loggedInPage(browser, base);
  });

  afterEach(async () => {
    await page?.close();
  });

  const png = () =>
    sharp({ create: { width: 64, height: 48, channels: 3, background: '#145ac8' } })
      .png()
      .toBuffer();

  /** GETs answered as failed: how many, and "Try again" about to be pressed. */
  interface Failing {
    failed: () => number;
    pressed: () => void;
    untilTryAgain: boolean;
  }

  /**
   * The first GET of the API path `path` (and only it) answered 503 with the problem+json the
   * service gives when its database connection was lost. This stands in for a service that is
   * briefly unavailable, which cannot be produced on demand otherwise (a database stopped or its
   * connections killed fails whichever request meets a dead connection first, not this one). The
   * read the person asks for again is the real service's answer. Resolves how many were answered.
   * `untilTryAgain`: every GET of it so answered until "Try again" is pressed, for a view that
   * asks again by itself (the jobs, every two seconds), whose own next read would otherwise take
   * the button away before the person presses it on a busy machine.
   */
  async function failOnce(path: string, { untilTryAgain = false } = {}): Promise<Failing> {
    let failed = 0;
    let pressed = false;
    await page.route(
      (url) => url.pathname === path,
      async (route) => {
        const done = pressed || (failed > 0 && !untilTryAgain);
        if (route.request().method() !== 'GET' || done) return route.fallback();
        failed += 1;
        await route.fulfill({
          status: 503,
          contentType: 'application/problem+json',
          headers: { 'retry-after': '5' },
          body: JSON.stringify({
            type: 'https://problems.example/database_unavailable',
            title: 'Service Unavailable',
            status: 503,
            code: 'database_unavailable',
            detail: 'The database connection was lost or could not be made; retry shortly.',
          }),
        });
      },
    );
    return { failed: () => failed, pressed: () => (pressed = true), untilTryAgain };
  }

  /**
   * The failure said as an alert, and "Try again" (a button, so in the Tab order) pressed with
   * the keyboard; then `shown` must appear, the alert and the button gone.
   */
  async function tryAgain(shown: () => Promise<unknown>, fails: Failing) {
    await page
      .getByRole('alert')
      .filter({ hasText: 'The database connection was lost or could not be made' })
      .waitFor();
    const button = page.getByRole('button', { name: 'Try again' });
    await button.waitFor();
    if (fails.untilTryAgain) expect(fails.failed()).toBeGreaterThan(0);
    else expect(fails.failed()).toBe(1);
    await button.focus();
    fails.pressed();
    await page.keyboard.press('Enter');
    await shown();
    expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0);
    expect(await page.getByRole('alert').filter({ hasText: 'database' }).count()).toBe(0);
  }

  it('reads a gallery again', async () => {
    const image = await uploadToNewProduct(t.app, admin, await png(), 'Wool socks', 'image/png', {
      title: 'Socks',
    });
    const fails = await failOnce(`/api/v1/products/${image.productId}`);
    await page.goto(`${base}/console/products/${image.productId}`);
    await page.getByRole('heading', { name: 'Product', level: 1 }).waitFor();
    await tryAgain(async () => {
      await page.getByRole('heading', { name: 'Wool socks', level: 1 }).waitFor();
      await page.locator(`[data-image-id="${image.id}"]`).waitFor();
    }, fails);
    // The view's heading has the focus again, as when a view opens.
    await expect(page.evaluate('document.activeElement?.textContent')).resolves.toBe('Wool socks');
  });

  it('reads an image’s details again', async () => {
    const image = await uploadToNewProduct(t.app, admin, await png(), 'Wool socks', 'image/png', {
      title: 'Socks',
    });
    const fails = await failOnce(`/api/v1/products/${image.productId}/images/${image.id}`);
    await page.goto(`${base}/console/products/${image.productId}/images/${image.id}`);
    await page.getByRole('heading', { name: 'Image', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Go to the gallery' }).waitFor();
    await tryAgain(() => page.getByRole('heading', { name: 'Socks', level: 1 }).waitFor(), fails);
  });

  it('reads an asset’s details again, and the assets listed', async () => {
    const logo = multipart({ purpose: 'account', title: 'Shop logo' }, [
      { data: await png(), contentType: 'image/png', filename: 'logo.png' },
    ]);
    const uploaded = await call(t.app, 'POST', '/api/v1/images', admin, logo.payload, {
      headers: logo.headers,
    });
    expect(uploaded.statusCode).toBe(201);
    const { id } = uploaded.json<{ id: string }>();

    const detail = await failOnce(`/api/v1/images/${id}`);
    await page.goto(`${base}/console/assets/${id}`);
    await page.getByRole('heading', { name: 'Asset', level: 1 }).waitFor();
    await tryAgain(
      () => page.getByRole('heading', { name: 'Shop logo', level: 1 }).waitFor(),
      detail,
    );

    const list = await failOnce('/api/v1/images');
    await page.goto(`${base}/console/assets?purpose=account`);
    await page.getByRole('heading', { name: 'Assets', level: 1 }).waitFor();
    await tryAgain(() => page.locator('.asset-card', { hasText: 'Shop logo' }).waitFor(), list);
  });

  it('reads the products again', async () => {
    await uploadToNewProduct(t.app, admin, await png(), 'Linen scarf', 'image/png', {});
    const fails = await failOnce('/api/v1/products');
    await page.goto(`${base}/console/products`);
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    await tryAgain(() => page.getByRole('link', { name: 'Linen scarf' }).first().waitFor(), fails);
  });

  it('reads the jobs again', async () => {
    const fails = await failOnce('/api/v1/jobs', { untilTryAgain: true });
    await page.goto(`${base}/console/jobs`);
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
    await tryAgain(
      () => page.getByRole('heading', { name: 'Recent jobs', level: 2 }).waitFor(),
      fails,
    );
  });

  it('reads the jobs again later after each failure in a row, and no sooner than Retry-After says', async () => {
    // Answered as the service does when rate limited (429, Retry-After 5), then briefly
    // unavailable (503, no Retry-After), then by the real service. Every open tab reading every
    // two seconds through such answers only made them last.
    const asked: number[] = [];
    const problem = (status: number, code: string) =>
      JSON.stringify({ type: 'about:blank', title: code, status, code, detail: code });
    await page.route(
      (url) => url.pathname === '/api/v1/jobs',
      async (route) => {
        if (route.request().method() !== 'GET') return route.fallback();
        asked.push(Date.now());
        if (asked.length === 1)
          return route.fulfill({
            status: 429,
            contentType: 'application/problem+json',
            headers: { 'retry-after': '5' },
            body: problem(429, 'rate_limited'),
          });
        if (asked.length === 2)
          return route.fulfill({
            status: 503,
            contentType: 'application/problem+json',
            body: problem(503, 'database_unavailable'),
          });
        return route.fallback();
      },
    );
    await page.goto(`${base}/console/jobs`);
    await page.getByRole('heading', { name: 'Recent jobs', level: 2 }).waitFor({ timeout: 30_000 });
    expect(asked.length).toBeGreaterThanOrEqual(3);
    // Lower bounds only: a busy machine makes the waits longer, never shorter. Before, two
    // seconds each time.
    expect(asked[1] - asked[0]).toBeGreaterThanOrEqual(4_900);
    // The second failure in a row: twice the two seconds.
    expect(asked[2] - asked[1]).toBeGreaterThanOrEqual(3_900);
  });

  it('says an import from a URL that failed as an error (an alert), not as a status', async () => {
    const image = await uploadToNewProduct(t.app, admin, await png(), 'Wool socks', 'image/png', {
      title: 'Socks',
    });
    await page.goto(`${base}/console/products/${image.productId}`);
    // A URL the service does not fetch: refused, or its row failed.
    await page.getByLabel('Image URL').fill('ftp://images.example/front.jpg');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Not imported' });
    await alert.waitFor();
    // Said once, as an error: not in the status region beside it.
    expect(await page.getByRole('status').filter({ hasText: 'Not imported' }).count()).toBe(0);
  });

  it('offers no "Try again" where reading again cannot help: a page address no listing has', async () => {
    await page.goto(`${base}/console/products?cursor=not-a-cursor`);
    await page.getByRole('alert').filter({ hasText: 'cursor' }).waitFor();
    expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0);
  });
});
