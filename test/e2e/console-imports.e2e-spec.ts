import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Locator, Page } from 'playwright-core';
import { expectAccessible } from '../support/accessibility';
import { screenshotPath } from '../support/browser';
import { loggedInPage, startConsoleHarness, type ConsoleHarness } from '../support/console-harness';
import { eventually } from '../support/eventually';
import { call, type Credential } from '../support/http';
import type { TestApp } from '../support/test-app';

/**
 * A bulk import's rows in the gallery console, in Debian's Chromium: from the Jobs page to the
 * import's rows, each failed row with its problem (code and words), its source URL and its
 * product, a page at a time.
 */
describe('The gallery console’s import rows', () => {
  let h: ConsoleHarness;
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let base: string;
  let admin: Credential;
  let sources: Server;
  let origin: string;
  /** What /held.png waits for before its 404 (an import kept processing meanwhile). */
  let heldSource: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    // A loopback server with no image: a 404, and a web page where an image was expected.
    sources = createServer((req, res) => {
      if (req.url === '/held.png') {
        void heldSource.then(() => res.writeHead(404).end());
      } else if (req.url === '/page.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg' }).end('<html><body>Hi</body></html>');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
      }
    });
    sources.listen(0, '127.0.0.1');
    await once(sources, 'listening');
    origin = `http://127.0.0.1:${(sources.address() as AddressInfo).port}`;
    h = await startConsoleHarness({
      IMPORT_ALLOWED_PRIVATE_ORIGINS: origin,
      JOB_POLL_INTERVAL_MS: '500',
    });
    ({ t, browser, base, admin } = h);
  });

  afterAll(async () => {
    await h?.close();
    sources?.closeAllConnections();
    await new Promise<void>((resolve) => (sources ? sources.close(() => resolve()) : resolve()));
  });

  beforeEach(async () => {
    page = await loggedInPage(browser, base);
  });

  afterEach(async () => {
    await page?.close();
  });

  /** Posts an import of `rows` through the API and waits until every row is done. */
  async function importDone(rows: Record<string, unknown>[]): Promise<string> {
    const posted = await call(t.app, 'POST', '/api/v1/imports', admin, { rows });
    expect(posted.statusCode).toBe(202);
    const id = posted.json<{ id: string }>().id;
    await eventually(async () => {
      const read = await call(t.app, 'GET', `/api/v1/imports/${id}`, admin);
      return read.json<{ state: string }>().state === 'completed';
    }, `import ${id} to complete`);
    return id;
  }

  /**
   * An import of one row whose source (/held.png) answers only once `releaseSource` is called:
   * processing until then.
   */
  async function heldImport(): Promise<{ id: string; releaseSource: () => void }> {
    let releaseSource!: () => void;
    heldSource = new Promise((resolve) => (releaseSource = resolve));
    const product = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Held boots' });
    const posted = await call(t.app, 'POST', '/api/v1/imports', admin, {
      rows: [{ product_id: product.json<{ id: string }>().id, url: `${origin}/held.png` }],
    });
    expect(posted.statusCode).toBe(202);
    return { id: posted.json<{ id: string }>().id, releaseSource };
  }

  it('shows each failed row’s problem, source URL and product, reached from the Jobs page', async () => {
    const product = await call(t.app, 'POST', '/api/v1/products', admin, {
      name: 'Imported boots',
      gtin: '4006381333931',
    });
    expect(product.statusCode).toBe(201);
    const productId = product.json<{ id: string }>().id;
    const missing = `${origin}/missing.png`;
    const webPage = `${origin}/page.jpg`;
    const id = await importDone([
      { product_id: productId, url: missing },
      { gtin: '4006381333931', url: webPage },
      { external_id: 'no-such-product', url: missing },
    ]);

    await page.goto(`${base}/console/jobs`);
    await page.getByRole('link', { name: /The 3 failed rows/ }).click();
    await page.waitForURL(`${base}/console/jobs/imports/${id}?status=failed`);
    await page.getByRole('heading', { level: 1, name: /^Import of / }).waitFor();
    const row = (n: number) => page.locator(`tr[data-row="${n}"]`);
    await row(3).waitFor();

    // The 404: its code and the service's words, the URL, the product as a link to its gallery.
    const first = await row(1).innerText();
    expect(first).toContain('image_url_unreachable');
    expect(first).toContain(missing);
    expect(first).toContain(productId);
    await expect(row(1).getByRole('link').getAttribute('href')).resolves.toBe(
      `/console/products/${productId}`,
    );
    // Not an image (a web page): refused by its bytes, the product named by its GTIN.
    const second = await row(2).innerText();
    expect(second).toMatch(/unsupported_image_type|invalid_image/);
    expect(second).toContain(webPage);
    expect(second).toContain('GTIN 04006381333931');
    // No such product: said so, with the external id the row named.
    const third = await row(3).innerText();
    expect(third).toContain('product_not_found');
    expect(third).toContain('no-such-product');
    // The words under each code are the service's, as the API gives them.
    const rows = await call(t.app, 'GET', `/api/v1/imports/${id}/rows`, admin);
    for (const [i, item] of rows
      .json<{ items: { problem: { message: string } }[] }>()
      .items.entries()) {
      await expect(row(i + 1).innerText()).resolves.toContain(item.problem.message);
    }
    await expectAccessible(page, 'an import’s failed rows');
    await page.screenshot({ path: screenshotPath('console-import-rows'), fullPage: true });

    // Every row, with the filter: the same three here.
    await page.getByLabel('Show', { exact: true }).selectOption('');
    await page.waitForURL(`${base}/console/jobs/imports/${id}`);
    await row(3).waitFor();
    await expect(page.locator('tr[data-row]').count()).resolves.toBe(3);
    await page.getByLabel('Show', { exact: true }).selectOption('ok');
    await page.getByText('No imported rows.').waitFor();
    // Back leaves the rows as they were before filtering (the failed ones, as the link from the
    // Jobs page showed them), not through every value the filter passed on the way.
    await page.goBack();
    await page.waitForURL(`${base}/console/jobs/imports/${id}?status=failed`, { timeout: 10_000 });
    await expect(page.getByLabel('Show', { exact: true }).inputValue()).resolves.toBe('failed');
  });

  it('makes a new history entry for a filter changed again after a quiet moment', async () => {
    const id = await importDone([{ gtin: '96385074', url: `${origin}/missing.png` }]);
    const here = `${base}/console/jobs/imports/${id}`;
    const show = page.getByLabel('Show', { exact: true });
    await page.goto(`${here}?status=failed`);
    await page.locator('tr[data-row="1"]').waitFor();
    await show.selectOption('');
    await page.waitForURL(here);
    // Left alone a while (the filter's quiet time is a second), then changed twice in a run.
    await page.waitForTimeout(1_500);
    await show.selectOption('ok');
    await show.selectOption('pending');
    await page.waitForURL(`${here}?status=pending`);
    // Back leaves the run (ok, pending), not the earlier change: every row again.
    await page.goBack();
    await page.waitForURL(here, { timeout: 10_000 });
    await expect(show.inputValue()).resolves.toBe('');
    await page.goBack();
    await page.waitForURL(`${here}?status=failed`, { timeout: 10_000 });
    await expect(show.inputValue()).resolves.toBe('failed');
  });

  it('keeps reading an import that is processing after a read that failed, until it completes', async () => {
    const { id, releaseSource } = await heldImport();
    // The import's second read answered 503, as when the service briefly lost its database.
    let reads = 0;
    await page.route(
      (url) => url.pathname === `/api/v1/imports/${id}`,
      async (route) => {
        reads += 1;
        if (reads !== 2) return route.fallback();
        await route.fulfill({
          status: 503,
          contentType: 'application/problem+json',
          body: JSON.stringify({
            type: 'about:blank',
            title: 'Service Unavailable',
            status: 503,
            code: 'database_unavailable',
            detail: 'The database connection was lost or could not be made; retry shortly.',
          }),
        });
      },
    );
    try {
      await page.goto(`${base}/console/jobs/imports/${id}`);
      await page.locator('.import-summary .tag-processing').waitFor();
      await eventually(async () => reads >= 3, 'the import read again after its failed read');
    } finally {
      releaseSource();
    }
    // Read again by itself (no "Try again" pressed) until the row is done.
    await page.locator('.import-summary .tag-completed').waitFor({ timeout: 30_000 });
    await expect(page.locator('tr[data-row="1"]').innerText()).resolves.toContain(
      'image_url_unreachable',
    );
  });

  /**
   * Focuses `target`, marked so that a remounted element (another one in its place) tells, and
   * says whether it still has the focus after two more answers to `read` (the view's polls).
   */
  async function keepsFocus(target: Locator, read: string): Promise<boolean> {
    await target.evaluate((element) => {
      element.setAttribute('data-focused-by-test', '');
      element.focus();
    });
    for (let n = 0; n < 2; n++) {
      await page.waitForResponse((r) => new URL(r.url()).pathname === read);
    }
    // The poll's answer rendered (a frame later).
    await page.evaluate('new Promise((resolve) => requestAnimationFrame(resolve))');
    return page.evaluate<boolean>(
      'document.activeElement?.hasAttribute("data-focused-by-test") === true',
    );
  }

  it('keeps the focus where a keyboard user put it while an import’s rows and the jobs are read again', async () => {
    const { id, releaseSource } = await heldImport();
    try {
      await page.goto(`${base}/console/jobs/imports/${id}`);
      await page.locator('.import-summary .tag-processing').waitFor();
      const product = page.locator('tr[data-row="1"] a');
      await product.waitFor();
      expect(await keepsFocus(product, `/api/v1/imports/${id}/rows`)).toBe(true);
      const show = page.getByLabel('Show', { exact: true });
      expect(await keepsFocus(show, `/api/v1/imports/${id}/rows`)).toBe(true);

      await page.goto(`${base}/console/jobs`);
      const link = page.locator(`a[href="/console/jobs/imports/${id}"]`);
      await link.waitFor();
      expect(await keepsFocus(link, '/api/v1/jobs')).toBe(true);
      // A newer import, listed above it at the next poll.
      const newer = await call(t.app, 'POST', '/api/v1/imports', admin, {
        rows: [{ gtin: '96385074', url: `${origin}/newer.png` }],
      });
      expect(newer.statusCode).toBe(202);
      const newerLink = `a[href="/console/jobs/imports/${newer.json<{ id: string }>().id}"]`;
      expect(await keepsFocus(link, '/api/v1/jobs')).toBe(true);
      await page.locator(newerLink).waitFor();
      expect(await keepsFocus(link, '/api/v1/jobs')).toBe(true);
      const rebuild = page.getByRole('button', { name: 'Re-make renditions' });
      expect(await keepsFocus(rebuild, '/api/v1/jobs')).toBe(true);
    } finally {
      releaseSource();
    }
  });

  it('reads a processing import every two seconds while its rows page is refused for good', async () => {
    const { id, releaseSource } = await heldImport();
    let reads = 0;
    await page.route(
      (url) => url.pathname === `/api/v1/imports/${id}`,
      (route) => {
        reads += 1;
        return route.fallback();
      },
    );
    try {
      // A cursor no listing has: the rows are refused (400), the import itself is read.
      await page.goto(`${base}/console/jobs/imports/${id}?cursor=not-a-cursor`);
      await page.locator('.import-summary .tag-processing').waitFor();
      // Six reads take some 10 s at two seconds apart; backing off as from a failure that
      // passes (2, 4, 8, 16, 32 s) they took a minute.
      await eventually(async () => reads >= 6, 'six reads of the import', 25_000);
    } finally {
      releaseSource();
    }
  });

  it('pages the rows as the API does', async () => {
    const id = await importDone(
      Array.from({ length: 55 }, (_, i) => ({ gtin: '96385074', url: `${origin}/r${i + 1}.png` })),
    );
    await page.goto(`${base}/console/jobs/imports/${id}?status=failed`);
    await page.locator('tr[data-row="50"]').waitFor();
    await expect(page.locator('tr[data-row]').count()).resolves.toBe(50);
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.locator('tr[data-row="55"]').waitFor();
    await expect(page.locator('tr[data-row]').count()).resolves.toBe(5);
    await expect(page.locator('tr[data-row="51"]').innerText()).resolves.toContain(
      `${origin}/r51.png`,
    );
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.locator('tr[data-row="1"]').waitFor();
  });

  it('says in words that an address names no import, and offers the way back', async () => {
    await page.goto(`${base}/console/jobs/imports/00000000-0000-4000-8000-000000000000`);
    await page.getByRole('heading', { name: 'Import not found', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Go to the jobs' }).click();
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
  });
});
