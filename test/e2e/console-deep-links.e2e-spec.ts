import { request } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { loggedInPage, startConsoleHarness, type ConsoleHarness } from '../support/console-harness';

interface Answer {
  status: number;
  contentType: string;
  csp: string | undefined;
  vary: string | undefined;
  body: string;
}

/** GET `path` as sent (no client re-encodes it), with `headers`. */
function get(base: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'] ?? '',
          csp: res.headers['content-security-policy'] as string | undefined,
          vary: res.headers.vary,
          body,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** What Chromium sends when it opens an address typed, bookmarked or linked. */
const NAVIGATION = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
};
/** What it sends for a script the page loads. */
const SCRIPT = { accept: '*/*', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script' };

/** Addresses below /console with `<`, `"`, spaces and a dot in their last segment (as sent). */
const DEEP_LINKS = [
  '/console/products/Blue%20shoe.jpg',
  '/console/%3Cimg%20src=x%20onerror=alert(1)%3E.x',
  '/console/%22%3E%3Csvg%20onload=alert(document.domain)%3E.html',
  '/console/products/x.y%3Cz%22',
  '/console/a%3Cb%22c%20d',
  '/console/jobs/imports/%3Cscript%3Ealert(1)%3C%2Fscript%3E',
];

/**
 * The gallery console's deep links, whatever they hold: each opens the console (which says that
 * nothing is there) and never reflects the address into the page; files stay files.
 */
describe('The gallery console’s deep links', () => {
  let h: ConsoleHarness;
  let browser: Browser;
  let page: Page;
  let base: string;
  let consolePage: string;

  beforeAll(async () => {
    h = await startConsoleHarness();
    ({ browser, base } = h);
    consolePage = (await get(base, '/console', NAVIGATION)).body;
    expect(consolePage).toMatch(/^<!doctype html>/i);
  });

  afterAll(() => h?.close());

  afterEach(async () => {
    await page?.close();
  });

  it.each(DEEP_LINKS)('answers %s opened in a browser with the console’s page', async (path) => {
    const answer = await get(base, path, NAVIGATION);
    expect({ path, status: answer.status }).toEqual({ path, status: 200 });
    expect(answer.contentType).toMatch(/^text\/html/);
    expect(answer.csp).toContain("script-src 'self'");
    // The same page as /console's, byte for byte: nothing of the address is in it.
    expect(answer.body).toBe(consolePage);
  });

  it.each([
    '/console/products/Blue%20shoe.jpg',
    '/console/%3Cimg%20src=x%20onerror=alert(1)%3E.js',
    '/console/assets/%3Cnothing%3E.js',
  ])('answers %s fetched as a script as a missing file: 404 problem+json', async (path) => {
    const answer = await get(base, path, SCRIPT);
    expect(answer.status).toBe(404);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
  });

  it.each(['/console/assets/nothing-here.js', '/console/..%2fpackage.json', '/console/x%00.js'])(
    'answers %s with 404 even when opened in a browser (the bundle’s folder, a climbing path)',
    async (path) => {
      const answer = await get(base, path, NAVIGATION);
      expect(answer.status).toBe(404);
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
    },
  );

  it('says that an answer at a name the build lacks depends on whether a browser opens it (Vary)', async () => {
    // Page or 404 by Sec-Fetch-Mode and Accept: a cache keyed on the URL alone would hand the one
    // kept to both (the 404 to a browser, or the page to a script).
    const path = '/console/products/Blue%20shoe.jpg';
    for (const headers of [NAVIGATION, SCRIPT]) {
      expect((await get(base, path, headers)).vary).toMatch(/sec-fetch-mode.*accept/i);
    }
    // A file the build has, and a client-side route, are the same whoever asks.
    expect((await get(base, '/console/favicon.svg', SCRIPT)).vary ?? '').not.toMatch(/sec-fetch/i);
    expect((await get(base, '/console/products', NAVIGATION)).vary ?? '').not.toMatch(/sec-fetch/i);
  });

  it('answers a last segment longer than a file name may be as any other, never 500', async () => {
    // stat() fails ENAMETOOLONG past 255 bytes, rather than "no such file".
    const path = `/console/${'a'.repeat(300)}.jpg`;
    const opened = await get(base, path, NAVIGATION);
    expect(opened.status).toBe(200);
    expect(opened.body).toBe(consolePage);
    const fetched = await get(base, path, SCRIPT);
    expect(fetched.status).toBe(404);
    expect(fetched.contentType).toMatch(/^application\/problem\+json/);
  });

  it('opens each such address in Chromium as the console’s not-found view, running nothing of it', async () => {
    page = await loggedInPage(browser, base);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    for (const [link, heading] of [
      ['/console/products/Blue shoe.jpg', 'Product not found'],
      ['/console/<img src=x onerror=alert(1)>.x', 'Not found'],
      ['/console/"><svg onload=alert(document.domain)>.html', 'Not found'],
      ['/console/a<b"c d', 'Not found'],
      ['/console/jobs/imports/<script>alert(1)<%2Fscript>', 'Import not found'],
    ]) {
      const answer = await page.goto(`${base}${link}`);
      expect({ link, status: answer?.status() }).toEqual({ link, status: 200 });
      await page.getByRole('heading', { name: heading, level: 1, exact: true }).waitFor();
      await expect(page.title()).resolves.toBe(`${heading} · Console · Product images`);
      expect(await page.locator('img, svg, script:not([src])').count()).toBe(0);
    }
    expect(dialogs).toEqual([]);
  });
});
