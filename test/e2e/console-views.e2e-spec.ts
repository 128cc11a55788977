import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { loggedInPage, startConsoleHarness, type ConsoleHarness } from '../support/console-harness';
import { eventually } from '../support/eventually';
import { call, uploadToNewProduct, type Credential } from '../support/http';
import type { TestApp } from '../support/test-app';

/**
 * The gallery console's views as a person reaches them, in Debian's Chromium: by an address that
 * names nothing (mistyped, cut short, or of something deleted), and what each view shows of an
 * image.
 */
describe('The gallery console’s views', () => {
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

  /** A product with one image, with `fields` (title, alt text, description), via the API. */
  async function productWithImage(fields: Record<string, string>) {
    const png = await sharp({
      create: { width: 64, height: 48, channels: 3, background: { r: 20, g: 90, b: 200 } },
    })
      .png()
      .toBuffer();
    const image = await uploadToNewProduct(t.app, admin, png, 'Wool socks', 'image/png', fields);
    return { productId: image.productId, imageId: image.id };
  }

  /** The page's heading, and the link it offers to go on. */
  async function shown(): Promise<{ heading: string; text: string }> {
    const heading = page.getByRole('heading', { level: 1 });
    await page.locator('main :is(p, [role="alert"])').filter({ hasText: /\S/ }).first().waitFor();
    return { heading: await heading.innerText(), text: await page.locator('main').innerText() };
  }

  it.each([
    [
      'a mistyped product id',
      '/products/not-an-id',
      'Product not found',
      'Go to the products',
      '/products',
    ],
    [
      'the id of no product',
      '/products/00000000-0000-4000-8000-000000000000',
      'Product not found',
      'Go to the products',
      '/products',
    ],
    ['a mistyped asset id', '/assets/not-an-id', 'Asset not found', 'Go to the assets', '/assets'],
  ])(
    'says in words that %s names nothing, and offers the way back',
    async (_case, path, heading, link, to) => {
      await page.goto(`${base}/console${path}`);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      const { text } = await shown();
      // The person is not told about path parameters, ids' lengths or UUIDs.
      expect(text).not.toMatch(/productId|imageId|UUID|22-character/);
      await page.getByRole('link', { name: link }).click();
      await page.waitForURL(`${base}/console${to}`);
    },
  );

  it('says in words that an image address cut short names nothing, and offers its gallery', async () => {
    const { productId, imageId } = await productWithImage({ title: 'Socks' });
    await page.goto(`${base}/console/products/${productId}/images/${imageId.slice(0, -3)}`);
    await page.getByRole('heading', { name: 'Image not found', level: 1 }).waitFor();
    expect((await shown()).text).not.toMatch(/imageId|UUID|22-character/);
    await page.getByRole('link', { name: 'Go to the gallery' }).click();
    await page.getByRole('heading', { name: 'Wool socks', level: 1 }).waitFor();
  });

  it('shows an image’s description in the gallery and on its details page', async () => {
    const description = 'Merino wool.\nHand wash only.';
    const { productId, imageId } = await productWithImage({
      title: 'Socks',
      alt_text: 'A pair of blue socks',
      description,
    });
    await page.goto(`${base}/console/products/${productId}`);
    const tile = page.locator(`[data-image-id="${imageId}"]`);
    await tile.waitFor();
    // Its line breaks kept; named for a screen reader.
    await expect(tile.locator('.tile-description').innerText()).resolves.toContain(description);
    await expect(tile.locator('.tile-description').textContent()).resolves.toMatch(
      /^Description: /,
    );
    await page.goto(`${base}/console/products/${productId}/images/${imageId}`);
    const fact = page.locator('.fact', { has: page.locator('dt', { hasText: 'Description' }) });
    await expect(fact.locator('dd').innerText()).resolves.toBe(description);
  });

  it('says in words an upload refused by a proxy in front of the service (413, 415 as a web page)', async () => {
    const { productId } = await productWithImage({ title: 'Socks' });
    // A proxy's own limits: it answers with its HTML page, not the service's problem+json.
    const statuses = [413, 415];
    await page.route(`**/api/v1/products/${productId}/images`, async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      const status = statuses.shift() ?? 500;
      await route.fulfill({
        status,
        contentType: 'text/html',
        body: `<html><body><h1>${status}</h1><hr>nginx</body></html>`,
      });
    });
    await page.goto(`${base}/console/products/${productId}`);
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
    const png = await sharp({
      create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 20, b: 20 } },
    })
      .png()
      .toBuffer();
    await page.locator('#upload-files').setInputFiles([
      { name: 'huge.png', mimeType: 'image/png', buffer: png },
      { name: 'odd.png', mimeType: 'image/png', buffer: png },
    ]);
    const message = (name: string) => page.locator(`li[data-upload="${name}"] .upload-error`);
    await expect(message('huge.png').innerText()).resolves.toBe(
      'huge.png: Too large. The file is larger than the service, or a proxy in front of it, accepts.',
    );
    await expect(message('odd.png').innerText()).resolves.toBe(
      'odd.png: Type refused. The service, or a proxy in front of it, does not take this kind of file.',
    );
  });

  it('says on the products page that a product was deleted, and Back does not lead to its page', async () => {
    const { productId } = await productWithImage({ title: 'Socks' });
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    await page.goto(`${base}/console/products/${productId}`);
    await page.getByRole('button', { name: 'Delete product' }).click();
    await page
      .getByRole('dialog', { name: 'Delete this product?' })
      .getByRole('button', { name: 'Delete product' })
      .click();
    await page.waitForURL(`${base}/console/products`);
    await page.getByRole('status').filter({ hasText: 'Deleted “Wool socks”.' }).waitFor();
    // Back goes to where the person was before the product, not to its deleted page.
    await page.goBack();
    await page.waitForURL(`${base}/console`);
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
  });

  it.each([
    ['products', '/products?cursor=not-a-cursor', 'Products', '/products', 'ul.product-list > li'],
    [
      'assets',
      '/assets?purpose=product&cursor=not-a-cursor',
      'Assets',
      '/assets?purpose=product',
      'ul.asset-list > li',
    ],
  ])(
    'offers the first page of the %s when a page’s address names no page of the listing',
    async (_list, path, heading, first, item) => {
      await page.goto(`${base}/console${path}`);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.getByRole('alert').filter({ hasText: 'cursor' }).waitFor();
      await page.getByRole('link', { name: 'First page' }).click();
      await page.waitForURL(`${base}/console${first}`);
      // The first page read: its items listed (or the list said empty), the refusal gone. (Not any
      // list item or "empty" in the view, which another part of it may show.)
      const read = async () =>
        (await page.locator(`main :is(${item}, p.empty)`).count()) > 0 &&
        (await page.getByRole('alert').filter({ hasText: /\S/ }).count()) === 0;
      await eventually(read, 'the first page shown');
    },
  );
  it('reads a confirmation in order when the name in it holds a right-to-left override', async () => {
    // U+202E, which a name may hold, turns the text after it around up to the end of the
    // paragraph: "… will be deleted. This cannot be undone." would read right to left.
    const created = await call(t.app, 'POST', '/api/v1/products', admin, {
      name: '\u202Eexe.jpg',
    });
    expect(created.statusCode).toBe(201);
    await page.goto(`${base}/console/products/${created.json<{ id: string }>().id}`);
    await page.getByRole('button', { name: 'Delete product' }).click();
    const said = page.getByRole('dialog').locator('p', { hasText: 'will be deleted' });
    await said.waitFor();
    // Where the words are drawn: "will" left of "undone" when the sentence reads left to right.
    const left = await said.evaluate((p) => {
      const at = (word: string): number => {
        const walker = p.ownerDocument.createTreeWalker(p, 4);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          const index = node.textContent?.indexOf(word) ?? -1;
          if (index === -1) continue;
          const range = p.ownerDocument.createRange();
          range.setStart(node, index);
          range.setEnd(node, index + word.length);
          return range.getBoundingClientRect().left;
        }
        return Number.NaN;
      };
      return { will: at('will'), undone: at('undone') };
    });
    expect(left.will).toBeLessThan(left.undone);
  });
});
