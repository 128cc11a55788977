import type { Browser, Locator, Page } from 'playwright-core';
import sharp from 'sharp';
import { loggedInPage, startConsoleHarness, type ConsoleHarness } from '../support/console-harness';
import { call, uploadToNewProduct, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import type { TestApp } from '../support/test-app';

/** U+202E RIGHT-TO-LEFT OVERRIDE: a name may hold it, and it turns around what follows it. */
const RLO = '\u202E';

/**
 * Where `first` and `then` (words of the text of `element`, in that order) are drawn: `first` left
 * of `then` when the text reads left to right, as the console's sentences do.
 */
async function drawnInOrder(element: Locator, first: string, then: string): Promise<boolean> {
  const at = await element.evaluate(
    (node, words) => {
      const left = (word: string): number => {
        const walker = node.ownerDocument.createTreeWalker(node, 4);
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
          const index = text.textContent?.indexOf(word) ?? -1;
          if (index === -1) continue;
          const range = node.ownerDocument.createRange();
          range.setStart(text, index);
          range.setEnd(text, index + word.length);
          return range.getBoundingClientRect().left;
        }
        return Number.NaN;
      };
      return words.map(left);
    },
    [first, then],
  );
  expect(at.every(Number.isFinite)).toBe(true);
  return at[0] < at[1];
}

/**
 * Names holding bidirectional controls in the plain-text places of the gallery console (its status
 * messages and the document's title), in Debian's Chromium: the name is ordered on its own, the
 * sentence around it left to right as written.
 */
describe('The gallery console’s plain-text messages with right-to-left names', () => {
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
    sharp({ create: { width: 16, height: 16, channels: 3, background: '#2060c0' } })
      .png()
      .toBuffer();

  it('keeps the tab’s title in order when the product’s name holds a right-to-left override', async () => {
    const created = await call(t.app, 'POST', '/api/v1/products', admin, {
      name: `${RLO}exe.jpg`,
    });
    expect(created.statusCode).toBe(201);
    await page.goto(`${base}/console/products/${created.json<{ id: string }>().id}`);
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
    const title = await page.title();
    expect(title).toContain('Console · Product images');
    // The title drawn as plain text (as a tab, a window list or a bookmark shows it).
    await page.locator('body').evaluate((body, text) => {
      const line = body.ownerDocument.createElement('div');
      line.id = 'title-as-text';
      line.textContent = text;
      body.append(line);
    }, title);
    expect(await drawnInOrder(page.locator('#title-as-text'), 'Console', 'images')).toBe(true);
  });

  it('keeps a status message in order when the image’s title holds a right-to-left override', async () => {
    const first = await uploadToNewProduct(t.app, admin, await png(), 'Bidi socks', 'image/png', {
      title: 'plain',
    });
    const form = multipart({ title: `${RLO}gpj.exe` }, [
      { data: await png(), contentType: 'image/png' },
    ]);
    const second = await call(
      t.app,
      'POST',
      `/api/v1/products/${first.productId}/images`,
      admin,
      form.payload,
      { headers: form.headers },
    );
    expect(second.statusCode).toBe(201);
    await page.goto(`${base}/console/products/${first.productId}`);
    await page.getByRole('button', { name: /^Make primary: / }).click();
    const said = page.getByRole('status').filter({ hasText: 'is now the primary image' });
    await said.waitFor();
    // "… is now the primary image.": "now" drawn left of "primary".
    expect(await drawnInOrder(said, 'now', 'primary')).toBe(true);
  });

  /** Whether every element matching `selector` shows its text isolated (in a <bdi>, or dir=auto). */
  const isolated = (selector: string) =>
    page.locator(selector).evaluateAll((elements) =>
      elements.map((element) => {
        const walker = element.ownerDocument.createTreeWalker(element, 4);
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
          if (!text.textContent?.trim()) continue;
          if (!text.parentElement?.closest('bdi, [dir="auto"]')) return false;
        }
        return true;
      }),
    );

  it('shows a right-to-left product name in the products list in its own direction', async () => {
    // Hebrew "product", then a size: read right to left (as the name starts), the size is drawn
    // left of the word; read as the page's left-to-right text, right of it.
    const name = '\u05DE\u05D5\u05E6\u05E8 XL';
    const created = await call(t.app, 'POST', '/api/v1/products', admin, { name });
    expect(created.statusCode).toBe(201);
    await page.goto(`${base}/console/products`);
    const link = page.locator('.product-name a').filter({ hasText: name });
    await link.waitFor();
    expect(await drawnInOrder(link, 'XL', '\u05DE\u05D5\u05E6\u05E8')).toBe(true);
  });

  it('isolates the names and file names it lists: products, assets, API keys, uploads', async () => {
    const product = await call(t.app, 'POST', '/api/v1/products', admin, {
      name: `${RLO}listed.jpg`,
    });
    expect(product.statusCode).toBe(201);
    const form = multipart({ purpose: 'account', title: `${RLO}logo.png` }, [
      { data: await png(), contentType: 'image/png' },
    ]);
    const asset = await call(t.app, 'POST', '/api/v1/images', admin, form.payload, {
      headers: form.headers,
    });
    expect(asset.statusCode).toBe(201);
    const key = await call(t.app, 'POST', '/api/v1/api-keys', admin, { name: `${RLO}key name` });
    expect(key.statusCode).toBe(201);

    await page.goto(`${base}/console/products`);
    await page.locator('.product-name a').first().waitFor();
    expect(await isolated('.product-name a')).not.toContain(false);
    await page.goto(`${base}/console/assets`);
    await page.locator('.asset-title a').first().waitFor();
    expect(await isolated('.asset-title a')).not.toContain(false);
    await page.goto(`${base}/console/api-keys`);
    await page.locator('tr[data-api-key] td:first-child').first().waitFor();
    expect(await isolated('tr[data-api-key] td:first-child')).not.toContain(false);

    // A file queued for upload, its name as the browser gave it.
    await page.goto(`${base}/console/products/${product.json<{ id: string }>().id}`);
    await page.locator('#upload-files').setInputFiles({
      name: `${RLO}gpj.exe.png`,
      mimeType: 'image/png',
      buffer: await png(),
    });
    await page.locator('.upload-row .upload-name').first().waitFor();
    expect(await isolated('.upload-row .upload-name')).not.toContain(false);
  });
});
