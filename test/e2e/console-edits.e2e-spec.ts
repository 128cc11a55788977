import type { Browser, Page, Request } from 'playwright-core';
import sharp from 'sharp';
import { loggedInPage, startConsoleHarness, type ConsoleHarness } from '../support/console-harness';
import { eventually } from '../support/eventually';
import { expectAccessible } from '../support/accessibility';
import { call, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import type { TestApp } from '../support/test-app';

interface GalleryPage {
  version: number;
  items: { id: string; title: string; alt_text: string; description: string }[];
}

/**
 * The gallery console's forms while other people (and the person's own uploads) change what they
 * edit, in Debian's Chromium: a form sends only what the person changed, takes in what others
 * changed once it is read again (without a 412 as with one), keeps what the person wrote through
 * a 412, says a refusal where the person is, and offers to send again a file the service was too
 * busy for.
 */
describe('The gallery console under concurrent edits', () => {
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

  /** The page's requests to the API that have not ended (answered, failed) yet. */
  let onTheirWay: Set<Request>;
  /** How many times a request to the API started or ended, in all. */
  let traffic: number;

  beforeEach(async () => {
    page = await loggedInPage(browser, base);
    onTheirWay = new Set();
    traffic = 0;
    page.on('request', (request) => {
      if (!request.url().startsWith(`${base}/api/`)) return;
      onTheirWay.add(request);
      traffic++;
    });
    const ended = (request: Request) => {
      if (onTheirWay.delete(request)) traffic++;
    };
    page.on('requestfinished', ended);
    page.on('requestfailed', ended);
  });

  /**
   * Waits until the page's requests to the API are over and none follows them: the gallery's reads
   * after an upload stored, a save's. (waitForLoadState('networkidle') does not: the page's
   * network was idle once after it loaded, and Playwright does not wait for it again in the same
   * document.) None on its way is not enough: a request is told here after the page started it,
   * and ended when its answer came, before the page's code took it in and started the next (a
   * stored upload's answer, then the gallery's reads). So: none on its way, and none started or
   * ended over two looks in a row, each after a round trip to the page that lets the tasks it had
   * queued run (its promise callbacks, the next frame's, and the task after).
   */
  const apiAtRest = async () => {
    let quietSince = -1;
    await eventually(async () => {
      const before = traffic;
      await page.evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(r)))');
      const quiet = onTheirWay.size === 0 && traffic === before && quietSince === before;
      quietSince = onTheirWay.size === 0 && traffic === before ? traffic : -1;
      return quiet;
    }, 'the API requests answered, and none after them');
  };

  afterEach(async () => {
    await page?.close();
  });

  const png = (r: number, g: number, b: number): Promise<Buffer> =>
    sharp({ create: { width: 64, height: 48, channels: 3, background: { r, g, b } } })
      .png()
      .toBuffer();

  /** A product with images titled `titles` (each with the alt text "<title> alt"), via the API. */
  async function productWith(name: string, titles: string[]): Promise<string> {
    const created = await call(t.app, 'POST', '/api/v1/products', admin, { name });
    expect(created.statusCode).toBe(201);
    const productId = created.json<{ id: string }>().id;
    for (const [i, title] of titles.entries()) {
      const body = multipart({ title, alt_text: `${title} alt` }, [
        { filename: `${title}.png`, contentType: 'image/png', data: await png(i % 256, 90, 200) },
      ]);
      const res = await call(
        t.app,
        'POST',
        `/api/v1/products/${productId}/images`,
        admin,
        body.payload,
        { headers: body.headers },
      );
      expect(res.statusCode).toBe(201);
    }
    return productId;
  }

  async function gallery(productId: string): Promise<GalleryPage> {
    const res = await call(
      t.app,
      'GET',
      `/api/v1/products/${productId}/images?per_page=500`,
      admin,
    );
    return res.json<GalleryPage>();
  }

  /** Another person changes an image's fields (with the gallery's version as it is). */
  async function theyChangeImage(productId: string, title: string, body: object): Promise<string> {
    const now = await gallery(productId);
    const image = now.items.find((i) => i.title === title)!;
    const res = await call(
      t.app,
      'PATCH',
      `/api/v1/products/${productId}/images/${image.id}`,
      admin,
      body,
      { headers: { 'if-match': `"${now.version}"` } },
    );
    expect(res.statusCode).toBe(200);
    return image.id;
  }

  async function theyChangeProduct(productId: string, body: object): Promise<void> {
    const product = await call(t.app, 'GET', `/api/v1/products/${productId}`, admin);
    const res = await call(t.app, 'PATCH', `/api/v1/products/${productId}`, admin, body, {
      headers: { 'if-match': String(product.headers.etag) },
    });
    expect(res.statusCode).toBe(200);
  }

  async function openGallery(productId: string): Promise<void> {
    await page.goto(`${base}/console/products/${productId}`);
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
  }

  /** The person adds a file in this tab: the product and gallery are read again once stored. */
  async function upload(name: string): Promise<void> {
    await page
      .locator('#upload-files')
      .setInputFiles({ name, mimeType: 'image/png', buffer: await png(200, 20, 20) });
    await page.locator(`li[data-upload="${name}"].upload-done`).waitFor();
  }

  /**
   * Holds the answers to the page's uploads to the product: each file is stored on the service at
   * once, its answer held in the browser until the test lets it go (the upload slowed where it
   * shows: stored, and the page not yet told).
   */
  async function holdUploadAnswers(productId: string) {
    const gates: (() => void)[] = [];
    let stored = 0;
    await page.route(`**/api/v1/products/${productId}/images`, async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      const response = await route.fetch();
      stored++;
      await new Promise<void>((resolve) => gates.push(resolve));
      // The page may have gone meanwhile (when the test fails), and the request with it.
      await route.fulfill({ response }).catch(() => undefined);
    });
    return {
      /** How many the service has stored. */
      stored: () => stored,
      /** How many answers are held. */
      waiting: () => gates.length,
      letOneGo: () => gates.shift()?.(),
    };
  }

  /** The person chooses PNG files named `names` in the upload panel. */
  async function chooseFiles(names: string[]): Promise<void> {
    const files = [];
    for (const [i, name] of names.entries()) {
      files.push({ name, mimeType: 'image/png', buffer: await png(30 + i * 40, 10, 10) });
    }
    await page.locator('#upload-files').setInputFiles(files);
  }

  /** The gallery's titles as the page shows them, in order. */
  async function shownTitles(): Promise<string[]> {
    const shown = await page.locator('ol.gallery .tile-title').allTextContents();
    return shown.map((title) => title.split(',')[0].trim());
  }

  const uploadRow = (name: string) => page.locator(`.uploads > li[data-upload="${name}"]`);

  it('sends only the image fields the person changed: an alt text corrected meanwhile stays', async () => {
    const productId = await productWith('Lost update: image', ['front', 'side']);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit side' }).click();
    const sideId = await theyChangeImage(productId, 'side', {
      alt_text: 'Corrected by a colleague',
    });

    // An upload reads the gallery again (and with it the version the next change sends).
    await upload('back.png');
    await page.locator('ol.gallery > li').nth(2).waitFor();
    // The open form shows the colleague's alt text: the person did not change that field.
    expect(await page.getByLabel('Alt text').inputValue()).toBe('Corrected by a colleague');

    await page.getByLabel('Description').fill('Side view, laces open');
    await page.locator('form.tile-edit').getByRole('button', { name: 'Save' }).click();
    await page.locator('.notice-success').filter({ hasText: 'Saved “side”' }).waitFor();
    const after = await call(t.app, 'GET', `/api/v1/products/${productId}/images/${sideId}`, admin);
    expect(after.json()).toMatchObject({
      alt_text: 'Corrected by a colleague',
      description: 'Side view, laces open',
    });
  });

  it('after a 412 the image form shows the change it was about, and says where both changed one field', async () => {
    const productId = await productWith('Lost update after 412', ['front', 'side']);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit side' }).click();
    const sideId = await theyChangeImage(productId, 'side', {
      alt_text: 'Corrected by a colleague',
      title: 'side (theirs)',
    });

    await page.getByLabel('Title').fill('side (mine)');
    await page.getByLabel('Description').fill('Side view');
    await page.locator('form.tile-edit').getByRole('button', { name: 'Save' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'Someone else changed this gallery' })
      .waitFor();
    // Read again: the field the person left alone shows theirs; the one both changed keeps the
    // person's text and names the other.
    expect(await page.getByLabel('Alt text').inputValue()).toBe('Corrected by a colleague');
    expect(await page.getByLabel('Title').inputValue()).toBe('side (mine)');
    await page.getByText('Someone else changed this meanwhile to “side (theirs)”').waitFor();

    await page.locator('form.tile-edit').getByRole('button', { name: 'Save' }).click();
    await page.locator('.notice-success').waitFor();
    const after = await call(t.app, 'GET', `/api/v1/products/${productId}/images/${sideId}`, admin);
    expect(after.json()).toMatchObject({
      title: 'side (mine)',
      alt_text: 'Corrected by a colleague',
      description: 'Side view',
    });
  });

  it('does not write an open product form’s stale name over another person’s rename', async () => {
    const productId = await productWith('Original name', ['front']);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit product' }).click();
    await theyChangeProduct(productId, { name: 'Renamed by a colleague' });

    await upload('back.png');
    await page.getByRole('heading', { name: 'Renamed by a colleague', level: 1 }).waitFor();
    expect(await page.getByLabel('Name').inputValue()).toBe('Renamed by a colleague');

    await page.getByLabel('Description').fill('A new description');
    await page.getByRole('button', { name: 'Save product' }).click();
    await page.locator('.notice-success').waitFor();
    const after = await call(t.app, 'GET', `/api/v1/products/${productId}`, admin);
    expect(after.json()).toMatchObject({
      name: 'Renamed by a colleague',
      description: 'A new description',
    });
  });

  it('keeps what the person wrote in the product form through a 412, and saves it next', async () => {
    const productId = await productWith('Keep my text', []);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit product' }).click();
    // The form filled from the product first: text typed before that was written over by it.
    await page.waitForFunction(`document.querySelector('#product-name')?.value === 'Keep my text'`);
    const typed = 'A long description that took ten minutes to write.';
    await page.getByLabel('Description').fill(typed);
    await theyChangeProduct(productId, { gtin: '4006381333931' });

    await page.getByRole('button', { name: 'Save product' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'Someone else changed this product' })
      .waitFor();
    expect(await page.locator('#product-description').inputValue()).toBe(typed);
    expect(await page.locator('#product-gtin').inputValue()).toBe('04006381333931');

    await page.getByRole('button', { name: 'Save product' }).click();
    await page.locator('.notice-success').waitFor();
    const after = await call(t.app, 'GET', `/api/v1/products/${productId}`, admin);
    expect(after.json()).toMatchObject({ gtin: '04006381333931', description: typed });
  });

  it('says a success after a refusal in a live region that was in the page before it', async () => {
    const productId = await productWith('Said after a refusal', []);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit product' }).click();
    await page.waitForFunction(
      `document.querySelector('#product-name')?.value === 'Said after a refusal'`,
    );
    await page.getByLabel('Description').fill('Mine');
    await theyChangeProduct(productId, { description: 'Theirs' });
    await page.getByRole('button', { name: 'Save product' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'Someone else changed this product' })
      .waitFor();
    await expectAccessible(page, 'gallery with a refusal said');
    // The polite region a screen reader watches is there while the error is said: the success is
    // put in it, not in an element whose role is changed from alert (which Chromium makes anew,
    // and may not announce what is put in it then).
    const polite = page.locator(':is(.notice[role="status"], .notice [role="status"])');
    expect(await polite.count()).toBe(1);
    const region = await polite.elementHandle();

    await page.getByRole('button', { name: 'Save product' }).click();
    await page.locator('.notice-success').waitFor();
    expect(await region.evaluate((element) => element.isConnected)).toBe(true);
    await expect(region.textContent()).resolves.toBe('Saved “Said after a refusal”.');
    // Said once: the refusal gone from the assertive region.
    expect(await page.getByRole('alert').filter({ hasText: /\S/ }).count()).toBe(0);
    await expectAccessible(page, 'gallery with a success said after a refusal');
  });

  it('shows a refusal of an image far down a long gallery where the person is', async () => {
    const titles = Array.from({ length: 40 }, (_, i) => `img ${String(i).padStart(2, '0')}`);
    const productId = await productWith('Long gallery', titles);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit img 38' }).click();
    await theyChangeImage(productId, 'img 01', { alt_text: 'theirs' });
    await page.getByLabel('Description').fill('Mine');
    await page.locator('form.tile-edit').getByRole('button', { name: 'Save' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'Someone else changed this gallery' })
      .waitFor();
    const inView = await page.evaluate<boolean>(
      `(() => { const r = document.querySelector('.notice-error').getBoundingClientRect();
        return scrollY > 2000 && r.top >= 0 && r.bottom <= innerHeight; })()`,
    );
    expect(inView).toBe(true);
  });

  it('does not blame someone else for the person’s own upload stored during a move', async () => {
    const productId = await productWith('Own upload', ['a', 'b', 'c']);
    await openGallery(productId);
    // The upload's answer is held in the browser once the service has stored the image: the
    // move below is sent with the gallery's version from before the upload.
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    let stored!: () => void;
    const storedOnService = new Promise<void>((resolve) => (stored = resolve));
    await page.route(`**/api/v1/products/${productId}/images`, async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      const response = await route.fetch();
      stored();
      await held;
      await route.fulfill({ response });
    });
    await page
      .locator('#upload-files')
      .setInputFiles({ name: 'd.png', mimeType: 'image/png', buffer: await png(1, 2, 3) });
    await storedOnService;
    await page.getByRole('button', { name: 'Move b later' }).click();
    const notice = page.getByRole('alert').filter({ hasText: 'This gallery changed' });
    await notice.waitFor();
    answer();
    expect(await notice.textContent()).toContain('an upload of yours was stored meanwhile');
    expect(await notice.textContent()).not.toContain('Someone else');
  });

  it('names a refused field once in a validation message', async () => {
    const productId = await productWith('Wording', ['front']);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit product' }).click();
    await page.getByLabel('Slug').fill('Not A Slug!');
    // The service's answer awaited first: a failure then says whether the refusal came back (a
    // slow machine was once mistaken for a missing message).
    const answered = page.waitForResponse(
      (r) => r.request().method() === 'PATCH' && r.url().endsWith(`/products/${productId}`),
    );
    await page.getByRole('button', { name: 'Save product' }).click();
    expect((await answered).status()).toBe(400);
    const error = page.locator('form[aria-label="Edit product"] [role=alert]');
    await error.waitFor();
    expect(await error.textContent()).toContain('slug');
    expect(await error.textContent()).not.toMatch(/slug slug/);
  });

  it('offers to send again a file the service was too busy for, and sends it', async () => {
    const productId = await productWith('Busy', []);
    await openGallery(productId);
    // The service's busy answer is played by the browser (the service refuses so only when its
    // processing slots and queue are full, which a test cannot time from a browser); the file is
    // then sent again to the real service.
    let busy = true;
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route(`**/api/v1/products/${productId}/images`, async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      // The retry held until its announcement was read.
      if (!busy) return held.then(() => route.fallback());
      busy = false;
      await route.fulfill({
        status: 503,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '5' },
        body: JSON.stringify({
          type: 'https://errors.example/server_busy',
          title: 'Service busy',
          status: 503,
          code: 'server_busy',
          detail: 'Too many images are being processed; retry shortly.',
        }),
      });
    });
    await page
      .locator('#upload-files')
      .setInputFiles({ name: 'ok.png', mimeType: 'image/png', buffer: await png(9, 9, 9) });
    const row = page.locator('li[data-upload="ok.png"]');
    await row.locator('.upload-state', { hasText: 'Not stored' }).waitFor();
    await page.getByRole('button', { name: 'Retry upload of ok.png' }).click();
    // Said to a screen reader, whose focus went to the panel's heading with the button gone.
    const said = page.locator('.upload [role=status]');
    await said.filter({ hasText: 'Sending “ok.png” again.' }).waitFor();
    release();
    await page.locator('li[data-upload="ok.png"].upload-done').waitFor();
    await said.filter({ hasText: 'Uploaded “ok.png”.' }).waitFor();
    expect((await gallery(productId)).items.map((i) => i.title)).toEqual(['ok']);
    // Finished rows do not pile up: cleared on demand, the focus kept in the panel.
    await page.getByRole('button', { name: 'Clear finished uploads' }).click();
    await expect(page.locator('li[data-upload]').count()).resolves.toBe(0);
    await expect(page.evaluate('document.activeElement?.id')).resolves.toBe('upload-title');
  });

  it('offers to send again a file the service failed on (500) or that timed out (408), under the same key', async () => {
    const productId = await productWith('Failed on its side', []);
    await openGallery(productId);
    const answers = [
      { status: 500, code: 'internal_error', title: 'Internal server error' },
      { status: 408, code: 'request_timeout', title: 'The request did not arrive in time' },
    ];
    const keys: Record<string, (string | undefined)[]> = {};
    await page.route(`**/api/v1/products/${productId}/images`, async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      const key = route.request().headers()['idempotency-key'];
      const name =
        /filename="([^"]+)"/.exec(
          route.request().postDataBuffer()?.toString('latin1') ?? '',
        )?.[1] ?? '?';
      (keys[name] ??= []).push(key);
      const answer = answers.shift();
      if (!answer) return route.fallback();
      await route.fulfill({
        status: answer.status,
        headers: { 'content-type': 'application/problem+json' },
        body: JSON.stringify({
          type: `https://errors.example/${answer.code}`,
          detail: answer.status === 500 ? 'An unexpected error occurred.' : answer.title,
          ...answer,
        }),
      });
    });
    await page.locator('#upload-files').setInputFiles([
      { name: 'five.png', mimeType: 'image/png', buffer: await png(5, 5, 5) },
      { name: 'eight.png', mimeType: 'image/png', buffer: await png(8, 8, 8) },
    ]);
    for (const name of ['five.png', 'eight.png']) {
      const row = page.locator(`li[data-upload="${name}"]`);
      // Not "Refused": nothing was wrong with the file.
      await row.locator('.upload-state', { hasText: 'Service failed' }).waitFor();
      await row.getByText('The service failed on its side').waitFor();
      await page.getByRole('button', { name: `Retry upload of ${name}` }).click();
      await page.locator(`li[data-upload="${name}"].upload-done`).waitFor();
    }
    expect((await gallery(productId)).items.map((i) => i.title)).toEqual(['five', 'eight']);
    expect(Object.keys(keys).sort()).toEqual(['eight.png', 'five.png']);
    for (const sent of Object.values(keys)) {
      expect(sent).toHaveLength(2);
      expect(sent[1]).toBe(sent[0]);
    }
  });

  it('stores a file once when its answer is lost and the person presses Retry', async () => {
    const productId = await productWith('Answer lost', []);
    await openGallery(productId);
    // The service stores the upload; its answer is lost on the way back (a dropped connection).
    let lose = true;
    const keys: (string | undefined)[] = [];
    await page.route(`**/api/v1/products/${productId}/images`, async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      keys.push(route.request().headers()['idempotency-key']);
      if (!lose) return route.fallback();
      lose = false;
      await route.fetch();
      await route.abort('connectionreset');
    });
    await page
      .locator('#upload-files')
      .setInputFiles({ name: 'once.png', mimeType: 'image/png', buffer: await png(7, 70, 170) });
    const row = page.locator('li[data-upload="once.png"]');
    // Not "Not stored": it may well have been.
    await row.locator('.upload-state', { hasText: 'No answer' }).waitFor();
    await page.getByRole('button', { name: 'Retry upload of once.png' }).click();
    await page.locator('li[data-upload="once.png"].upload-done').waitFor();
    expect((await gallery(productId)).items.map((i) => i.title)).toEqual(['once']);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    // The gallery shows it once too.
    await page.locator('.tile-title', { hasText: 'once' }).waitFor();
    await expect(page.locator('.tile-title').count()).resolves.toBe(1);
  });

  it('shows the uploads that went on while the person looked at another view, and the images stored meanwhile, once back', async () => {
    const productId = await productWith('Away and back', ['front']);
    await openGallery(productId);
    const held = await holdUploadAnswers(productId);
    await chooseFiles(['one.png', 'two.png', 'three.png', 'four.png']);
    await eventually(() => held.waiting() === 1, 'the first upload to be stored');

    // The person looks at the products meanwhile: two uploads are answered while they do, and
    // the third is stored, its answer on its way.
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Products' })
      .click();
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    for (const n of [2, 3]) {
      held.letOneGo();
      await eventually(() => held.stored() === n && held.waiting() === 1, `upload ${n} stored`);
    }

    // Back in the gallery: the uploads' rows as they are, and the images stored meanwhile.
    await page.goBack();
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
    await uploadRow('one.png').and(page.locator('.upload-done')).waitFor();
    await uploadRow('two.png').and(page.locator('.upload-done')).waitFor();
    await uploadRow('three.png')
      .locator('.upload-state', { hasText: /Sending|Processing/ })
      .waitFor();
    await expect(uploadRow('four.png').locator('.upload-state').textContent()).resolves.toBe(
      'Waiting',
    );
    await page.locator('.tile-title', { hasText: 'three' }).waitFor();

    // The last two are answered while the gallery is shown: the fourth is stored after it was read.
    held.letOneGo();
    await eventually(() => held.stored() === 4 && held.waiting() === 1, 'upload 4 stored');
    held.letOneGo();
    await uploadRow('four.png').and(page.locator('.upload-done')).waitFor();
    await page.locator('.tile-title', { hasText: 'four' }).waitFor();
    await expect(page.locator('.uploads > li').count()).resolves.toBe(4);
    expect(await shownTitles()).toEqual(['front', 'one', 'two', 'three', 'four']);
    expect((await gallery(productId)).items.map((i) => i.title)).toEqual(await shownTitles());
    await page.getByText('5 images').waitFor();

    // The person's next change goes with the gallery's version as it is: not refused as someone
    // else's change.
    await apiAtRest();
    await page.getByRole('button', { name: 'Move one later' }).click();
    await page
      .locator('.notice-success')
      .filter({ hasText: 'Moved “one” to position 3' })
      .waitFor();
    expect((await gallery(productId)).items.map((i) => i.title)).toEqual([
      'front',
      'two',
      'one',
      'three',
      'four',
    ]);
  });

  it('keeps what the person types in open forms while uploads sent before they came back land', async () => {
    const productId = await productWith('Typing through uploads', ['front']);
    await openGallery(productId);
    const held = await holdUploadAnswers(productId);
    await chooseFiles(['one.png', 'two.png']);
    await eventually(() => held.waiting() === 1, 'the first upload to be stored');
    // The person looks at an image's details, and comes back.
    await page.getByRole('link', { name: 'Details of front' }).click();
    await page.getByRole('heading', { name: 'front', level: 1 }).waitFor();
    await page.goBack();
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
    await uploadRow('one.png')
      .locator('.upload-state', { hasText: /Sending|Processing/ })
      .waitFor();

    // They open the image's form and the product's, and type in both.
    await page.getByRole('button', { name: 'Edit front' }).click();
    const imageForm = page.getByRole('form', { name: 'Edit front' });
    await imageForm.getByLabel('Alt text').fill('Typed while uploading');
    await page.getByRole('button', { name: 'Edit product' }).click();
    await page.waitForFunction(
      `document.querySelector('#product-name')?.value === 'Typing through uploads'`,
    );
    await page.locator('#product-description').fill('Typed in the product');

    // The uploads land (the gallery read again after each) while the person goes on typing.
    held.letOneGo();
    await eventually(() => held.stored() === 2 && held.waiting() === 1, 'upload 2 stored');
    await Promise.all([
      imageForm.getByLabel('Alt text').pressSequentially(', and after', { delay: 40 }),
      (async () => {
        await page.waitForTimeout(100);
        held.letOneGo();
      })(),
    ]);
    await uploadRow('two.png').and(page.locator('.upload-done')).waitFor();
    await page.locator('.tile-title', { hasText: 'two' }).waitFor();
    await apiAtRest();
    await expect(imageForm.getByLabel('Alt text').inputValue()).resolves.toBe(
      'Typed while uploading, and after',
    );
    await expect(page.locator('#product-description').inputValue()).resolves.toBe(
      'Typed in the product',
    );

    // Both saved as typed.
    await imageForm.getByRole('button', { name: 'Save' }).click();
    await page.locator('.notice-success').filter({ hasText: 'Saved “front”' }).waitFor();
    await apiAtRest();
    await page.getByRole('button', { name: 'Save product' }).click();
    await page.locator('.notice-success').filter({ hasText: 'Saved “Typing through' }).waitFor();
    const images = (await gallery(productId)).items;
    expect(images.map((i) => [i.title, i.alt_text])).toEqual([
      ['front', 'Typed while uploading, and after'],
      ['one', ''],
      ['two', ''],
    ]);
    const product = await call(t.app, 'GET', `/api/v1/products/${productId}`, admin);
    expect(product.json()).toMatchObject({ description: 'Typed in the product' });
  });

  it('makes a product once when its answer is lost and the person presses Create again', async () => {
    await page.getByRole('button', { name: 'New product' }).click();
    await page.locator('#new-product-name').fill('Made once');
    let lose = true;
    await page.route('**/api/v1/products', async (route) => {
      if (route.request().method() !== 'POST' || !lose) return route.fallback();
      lose = false;
      await route.fetch();
      await route.abort('connectionreset');
    });
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.locator('form.new-item [role=alert]').waitFor();
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByRole('heading', { name: 'Made once', level: 1 }).waitFor();
    const listed = await call(t.app, 'GET', '/api/v1/products?limit=100', admin);
    const made = listed
      .json<{ items: { name: string; slug: string }[] }>()
      .items.filter((p) => p.name === 'Made once');
    expect(made.map((p) => p.slug)).toEqual(['made-once']);
  });

  // The service counts characters (code points); the browser's maxlength counts UTF-16 units,
  // two for each emoji.
  it('lets the person type an alt text of 600 emoji, which the service takes, and shows its refusal of a longer one', async () => {
    const productId = await productWith('Emoji alt typed', ['front']);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit front' }).click();
    const alt = page.getByLabel('Alt text');
    await alt.fill('');
    await alt.focus();
    await page.keyboard.insertText('🙂'.repeat(600));
    await page.locator('form.tile-edit').getByRole('button', { name: 'Save' }).click();
    await page.locator('.notice-success').filter({ hasText: 'Saved “front”' }).waitFor();
    expect([...(await gallery(productId)).items[0].alt_text]).toHaveLength(600);

    // Over the service's limit: its refusal is shown, naming the field.
    await page.getByRole('button', { name: 'Edit front' }).click();
    await alt.fill('');
    await alt.focus();
    await page.keyboard.insertText('🙂'.repeat(1001));
    await page.locator('form.tile-edit').getByRole('button', { name: 'Save' }).click();
    const refusal = page.locator('.notice-error');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('alt_text');
    expect([...(await gallery(productId)).items[0].alt_text]).toHaveLength(600);
  });

  it('lets the person shorten an emoji alt text the service holds', async () => {
    const productId = await productWith('Emoji alt held', ['front']);
    await theyChangeImage(productId, 'front', { alt_text: '🙂'.repeat(600) });
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit front' }).click();
    const alt = page.getByLabel('Alt text');
    await alt.focus();
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Backspace');
    // Asked before Save: a save answered at once closes the form, the field with it.
    expect(
      await alt.evaluate(
        (el) => (el as unknown as { validationMessage: string }).validationMessage,
      ),
    ).toBe('');
    await page.locator('form.tile-edit').getByRole('button', { name: 'Save' }).click();
    await page.locator('.notice-success').filter({ hasText: 'Saved “front”' }).waitFor();
    expect([...(await gallery(productId)).items[0].alt_text]).toHaveLength(599);
  });

  it('lets the person name a product with 150 emoji, which the service takes', async () => {
    const productId = await productWith('Emoji name', []);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit product' }).click();
    const name = page.getByLabel('Name');
    await name.fill('');
    await name.focus();
    await page.keyboard.insertText('🙂'.repeat(150));
    await page.getByRole('button', { name: 'Save product' }).click();
    await page.getByRole('button', { name: 'Edit product' }).waitFor();
    const product = await call(t.app, 'GET', `/api/v1/products/${productId}`, admin);
    expect([...product.json<{ name: string }>().name]).toHaveLength(150);
  });

  // The service refuses line breaks in alt text (one line, read out by screen readers).
  it('saves an alt text pasted over two lines as one line', async () => {
    const productId = await productWith('Alt over lines', ['front']);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit front' }).click();
    await page.getByLabel('Alt text').fill('Blue running shoe\nseen from the front');
    await page.locator('form.tile-edit').getByRole('button', { name: 'Save' }).click();
    await page.locator('.notice-success').filter({ hasText: 'Saved “front”' }).waitFor();
    expect((await gallery(productId)).items[0].alt_text).toBe(
      'Blue running shoe seen from the front',
    );
  });

  it('saves the image form when Enter is pressed in the alt text, as in the title', async () => {
    const productId = await productWith('Alt on Enter', ['front']);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit front' }).click();
    const alt = page.getByLabel('Alt text');
    await alt.fill('');
    await alt.pressSequentially('Blue running shoe');
    await alt.press('Enter');
    await page.locator('.notice-success').filter({ hasText: 'Saved “front”' }).waitFor();
    expect((await gallery(productId)).items[0].alt_text).toBe('Blue running shoe');
  });
});
