import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { loggedInPage, startConsoleHarness, type ConsoleHarness } from '../support/console-harness';
import { eventually, eventuallyRead } from '../support/eventually';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * The console while its own reads and changes overlap, in Debian's Chromium: a read that started
 * before a save does not undo it, what is typed while a save is on its way is kept, a view opened
 * after the session ended reads again once the person logs in again, one gallery change waits
 * for the last, a pager offers only the next page of the listing shown, and a form opened (or a
 * new API key shown) has the focus at once.
 */
const png = (r: number, g: number, b: number): Promise<Buffer> =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

describe('The console while its reads and changes overlap', () => {
  let h: ConsoleHarness;
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let base: string;
  let admin: Credential;
  /** A loopback origin for imports from a URL: /held.png answers once `releaseHeld` is called. */
  let images: Server;
  let origin: string;
  const held: ServerResponse[] = [];
  let heldAsked: () => void = () => undefined;
  let imagePng: Buffer;

  beforeAll(async () => {
    imagePng = await png(50, 120, 200);
    images = createServer((req, res) => {
      if (req.url !== '/held.png') return void res.writeHead(404).end();
      held.push(res);
      heldAsked();
    });
    images.listen(0, '127.0.0.1');
    await once(images, 'listening');
    origin = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
    h = await startConsoleHarness({ IMPORT_ALLOWED_PRIVATE_ORIGINS: origin });
    ({ t, browser, base, admin } = h);
  });

  afterAll(async () => {
    await h?.close();
    if (images?.listening) {
      images.closeAllConnections();
      await new Promise((resolve) => images.close(resolve));
    }
  });

  const releaseHeld = () =>
    held
      .splice(0)
      .forEach((res) => res.writeHead(200, { 'content-type': 'image/png' }).end(imagePng));

  beforeEach(async () => {
    page = await loggedInPage(browser, base);
  });

  afterEach(async () => {
    await page?.close();
  });

  async function productWith(name: string, titles: string[], extra: object = {}): Promise<string> {
    const created = await call(t.app, 'POST', '/api/v1/products', admin, { name, ...extra });
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

  async function openGallery(productId: string): Promise<void> {
    await page.goto(`${base}/console/products/${productId}`);
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
  }

  /** A promise, and the function that resolves it: an answer held until the test lets it go. */
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { opened, open };
  };

  /**
   * Lets the page take in what it has been answered: its promise callbacks, the next frame's, and
   * the task after (where Preact runs a render's effects), twice over.
   */
  const pageTookItIn = async () => {
    for (let round = 0; round < 2; round++) {
      await page.evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(r)))');
    }
  };

  /** Waits for the view's notice to say `text`; a failure says what it said instead. */
  const noticeSays = (text: string) =>
    eventuallyRead(
      () => page.locator('.notice').textContent(),
      (shown) => shown?.includes(text) ?? false,
      `the notice “${text}”`,
    );

  /**
   * The person's own upload, stored, makes the gallery view read the product again; that read is
   * answered slowly (read on the service at once, its answer held until the rename is saved), and
   * the person renames the product meanwhile. (Not once the upload's row says it is done: the row
   * waits for the gallery to show the image, that is for this read, so the rename came after it.)
   */
  async function renameWhileAnOlderReadIsOnItsWay(productId: string): Promise<void> {
    await openGallery(productId);
    let slow = false;
    const readOnService = gate();
    const renamed = gate();
    await page.route(`**/api/v1/products/${productId}`, async (route) => {
      if (route.request().method() !== 'GET' || !slow) return route.fallback();
      slow = false;
      const response = await route.fetch();
      readOnService.open();
      await renamed.opened;
      // The page may have gone meanwhile (when the test fails), and the request with it.
      await route.fulfill({ response }).catch(() => undefined);
    });
    slow = true;
    await page
      .locator('#upload-files')
      .setInputFiles({ name: 'back.png', mimeType: 'image/png', buffer: await png(200, 20, 20) });
    await readOnService.opened;
    try {
      await page.getByRole('button', { name: 'Edit product' }).click();
      await page.getByLabel('Name').fill('After the rename');
      await page.getByRole('button', { name: 'Save product' }).click();
      await noticeSays('Saved “After the rename”.');
      const saved = await call(t.app, 'GET', `/api/v1/products/${productId}`, admin);
      expect(saved.json()).toMatchObject({ name: 'After the rename' });
    } finally {
      // The older read answers now.
      renamed.open();
    }
    // The page has taken it in: the upload's row is done once the gallery read with it is shown.
    await page.locator('li[data-upload="back.png"].upload-done').waitFor();
    await pageTookItIn();
  }

  it('shows a saved product rename, not an older read of the product that answered after the save', async () => {
    const productId = await productWith('Before the rename', ['front']);
    await renameWhileAnOlderReadIsOnItsWay(productId);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('After the rename');
  });

  it('does not refuse the next product edit as someone else’s change after that older read', async () => {
    const productId = await productWith('Before the rename', ['front']);
    await renameWhileAnOlderReadIsOnItsWay(productId);
    await page.getByRole('button', { name: 'Edit product' }).click();
    await page.getByLabel('Description').fill('Mine');
    await page.getByRole('button', { name: 'Save product' }).click();
    // Saving it is not refused: nobody else changed the product. (Waited for, not a fixed pause,
    // which a loaded machine outlasted before the save was answered.)
    const saved = async () =>
      (await call(t.app, 'GET', `/api/v1/products/${productId}`, admin)).json<{
        description: string;
      }>().description === 'Mine';
    await eventually(saved, 'the description saved');
    const after = await call(t.app, 'GET', `/api/v1/products/${productId}`, admin);
    expect(after.json()).toMatchObject({ name: 'After the rename', description: 'Mine' });
    // The page has taken in the save's answer: the form closes when it is saved.
    await page.locator('#product-description').waitFor({ state: 'detached' });
    expect(await page.locator('.notice').allTextContents()).not.toContainEqual(
      expect.stringContaining('Someone else'),
    );
  });

  it('does not send a second gallery change with the version the first one is changing (a 412 blamed on someone else)', async () => {
    const productId = await productWith('Own change in flight', ['a', 'b', 'c']);
    await openGallery(productId);
    // Every notice the page shows, as it shows it.
    await page.evaluate(`(() => {
      window.__notices = [];
      const seen = () => { for (const n of document.querySelectorAll('.notice')) if (n.textContent) window.__notices.push(n.textContent); };
      new MutationObserver(seen).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    await page.getByRole('button', { name: 'Edit c' }).click();
    await page.getByLabel('Title').fill('c renamed');
    // The person makes b primary; the service does it, its answer is on its way (held until the
    // person has pressed Save, or found it disabled, below).
    const reached = gate();
    const pressed = gate();
    await page.route(`**/api/v1/products/${productId}/images/*`, async (route) => {
      if (route.request().method() !== 'PATCH') return route.fallback();
      const body = route.request().postDataJSON() as { is_primary?: boolean };
      if (!body.is_primary) return route.fallback();
      const response = await route.fetch();
      reached.open();
      await pressed.opened;
      await route.fulfill({ response }).catch(() => undefined);
    });
    await page.getByRole('button', { name: 'Make primary: b' }).click();
    await reached.opened;
    // The person saves the open form meanwhile (the click waits for its Save to be enabled).
    const save = page.locator('form.tile-edit').getByRole('button', { name: 'Save' });
    const saving = save.click();
    try {
      await Promise.race([saving, save.and(page.locator(':disabled')).waitFor()]);
    } finally {
      pressed.open();
    }
    await saving;
    // Its own answer, once the change of b is over (a refusal would say "Someone else" instead).
    await noticeSays('Saved “c renamed”.');
    const notices = await page.evaluate<string[]>('window.__notices');
    expect(notices).toContain('“b” is now the primary image.');
    // Nobody else touched this gallery.
    expect(notices.filter((text) => text.includes('Someone else'))).toEqual([]);
  });

  it('offers no "Next page" of one listing on the page of another (assets, another purpose)', async () => {
    const upload = async (purpose: string, title: string) => {
      const body = multipart({ purpose, title }, [
        { filename: `${title}.png`, contentType: 'image/png', data: await png(5, 5, 5) },
      ]);
      const res = await call(t.app, 'POST', '/api/v1/images', admin, body.payload, {
        headers: body.headers,
      });
      expect(res.statusCode).toBe(201);
    };
    for (let i = 0; i < 25; i++) await upload('product', `product ${i}`);
    await upload('account', 'The newest logo');

    await page.goto(`${base}/console/assets`);
    await page.getByRole('link', { name: 'Next page' }).waitFor();
    // The filtered list answers once the test has looked (its request held until then).
    const asked = gate();
    const looked = gate();
    await page.route('**/api/v1/images?*', async (route) => {
      if (!route.request().url().includes('purpose=account')) return route.fallback();
      asked.open();
      await looked.opened;
      await route.fallback();
    });
    await page.getByLabel('Purpose').selectOption('account');
    await page.waitForURL(/purpose=account/);
    await asked.opened;
    // While it loads, no "Next page" (one would be the unfiltered list's cursor, under the filter).
    const next = page.getByRole('link', { name: 'Next page' });
    const offered = await next.count();
    looked.open();
    if (offered > 0) {
      await next.click();
      await page.locator('.asset-card, .empty').first().waitFor();
      // Such a cursor skips the only account image (the newest).
      expect(await page.locator('.asset-card', { hasText: 'The newest logo' }).count()).toBe(1);
    }
    expect(offered).toBe(0);
  });

  it('keeps what the person types into the product form while its save is on its way', async () => {
    const productId = await productWith('Typing during the save', []);
    await openGallery(productId);
    // The save's answer is held until the person has typed on (the service has saved what was
    // sent).
    const typed = gate();
    await page.route(`**/api/v1/products/${productId}`, async (route) => {
      if (route.request().method() !== 'PATCH') return route.fallback();
      const response = await route.fetch();
      await typed.opened;
      await route.fulfill({ response }).catch(() => undefined);
    });
    await page.getByRole('button', { name: 'Edit product' }).click();
    await page.getByLabel('Description').fill('First sentence.');
    await page.getByRole('button', { name: 'Save product' }).click();
    // The fields stay enabled: the person goes on typing.
    try {
      await page.getByLabel('Description').press('End');
      await page.keyboard.type(' Second sentence.');
    } finally {
      typed.open();
    }
    await noticeSays('Saved “Typing during the save”.');
    const saved = await call(t.app, 'GET', `/api/v1/products/${productId}`, admin);
    const shown = await page.locator('#product-description').count();
    // What was typed is either saved, or still in an open form to be saved: not gone.
    expect(
      saved.json<{ description: string }>().description === 'First sentence. Second sentence.' ||
        (shown === 1 &&
          (await page.locator('#product-description').inputValue()).includes('Second sentence.')),
    ).toBe(true);
  });

  it('keeps what the person types into an image form while its save is on its way', async () => {
    const productId = await productWith('Typing during an image save', ['front']);
    await openGallery(productId);
    // The save's answer is held until the person has typed on.
    const typed = gate();
    await page.route(`**/api/v1/products/${productId}/images/*`, async (route) => {
      if (route.request().method() !== 'PATCH') return route.fallback();
      const response = await route.fetch();
      await typed.opened;
      await route.fulfill({ response }).catch(() => undefined);
    });
    await page.getByRole('button', { name: 'Edit front' }).click();
    const form = page.locator('form.tile-edit');
    await form.getByLabel('Alt text').fill('A red shoe');
    await form.getByRole('button', { name: 'Save' }).click();
    try {
      await form.getByLabel('Alt text').press('End');
      await page.keyboard.type(', seen from the front');
    } finally {
      typed.open();
    }
    await noticeSays('Saved “front”.');
    const images = await call(t.app, 'GET', `/api/v1/products/${productId}/images`, admin);
    const alt = images.json<{ items: { alt_text: string }[] }>().items[0].alt_text;
    const open = await form.count();
    expect(
      alt === 'A red shoe, seen from the front' ||
        (open === 1 && (await form.getByLabel('Alt text').inputValue()).includes('seen from')),
    ).toBe(true);
  });

  /**
   * Presses the button named `name` (as Enter on it does), and says which field has the focus once
   * the page has shown what the press opened, in the same task: where a key pressed at once goes.
   */
  const focusedOnceOpened = (name: string) =>
    page.evaluate<string>(`new Promise((resolve) => {
      const named = (b) => (b.getAttribute('aria-label') ?? b.textContent.trim()) === ${JSON.stringify(name)};
      [...document.querySelectorAll('button')].find(named).click();
      queueMicrotask(() => resolve(document.activeElement.labels?.[0]?.textContent ?? document.activeElement.tagName));
    })`);

  it('puts what the person types right after opening a form into its first field', async () => {
    const productId = await productWith('Typed at once', ['front']);
    await openGallery(productId);
    // The focus is in the form as soon as it is shown: it had waited for the page's next frame
    // (late on a busy machine), and what was typed or filled in meanwhile was lost or went to
    // another field when it moved.
    expect(await focusedOnceOpened('Edit front')).toBe('Title');
    await page.keyboard.type(' side');
    expect(await page.locator('form.tile-edit').getByLabel('Title').inputValue()).toBe(
      'front side',
    );
    expect(await focusedOnceOpened('Edit product')).toBe('Name');
    await page.keyboard.type(' again');
    expect(await page.getByLabel('Name').inputValue()).toBe('Typed at once again');
  });

  it('gives a new API key’s field the focus as the key is shown, not a frame later', async () => {
    await page.goto(`${base}/console/api-keys`);
    await page.getByRole('button', { name: 'New API key' }).click();
    await page.getByLabel('Name').fill('Focused at once');
    // Where the focus is once the page has shown the key, in the same task (as focusedOnceOpened):
    // it had waited for the page's next frame, and a Ctrl+C or Tab pressed meanwhile went from
    // the document's start, the focus then pulled away from where the Tab had taken it.
    await page.evaluate(`void (window.focusedOnceShown = new Promise((resolve) => {
      new MutationObserver((_, observer) => {
        const input = document.querySelector('.new-secret input');
        if (!input) return;
        observer.disconnect();
        resolve(document.activeElement === input ? 'the key' : document.activeElement.tagName);
      }).observe(document.body, { childList: true, subtree: true });
    }))`);
    await page.getByRole('button', { name: 'Create key' }).click();
    expect(await page.evaluate<string>('window.focusedOnceShown')).toBe('the key');
  });

  it('leaves the focus where the person went while a move with the keyboard was on its way', async () => {
    const productId = await productWith('Moved and typed on', ['front', 'one', 'two']);
    await openGallery(productId);
    // The move's answer is held until the person has gone on to another field and typed there.
    let answer: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    await page.route(`**/api/v1/products/${productId}/images/order`, async (route) => {
      await answered;
      await route.fallback();
    });
    await page.getByRole('button', { name: 'Move one later' }).focus();
    await page.keyboard.press('Enter');
    const field = page.getByLabel('Image URL');
    await field.click();
    await page.keyboard.type('https://images.example/');
    answer();
    await noticeSays('Moved “one” to position 3 of 3.');
    await page.locator('ol.gallery[aria-busy="false"]').waitFor();
    // Once the effects of the render that ended the move have run (where the focus would be put
    // back on the moved image's button): Preact runs them in a task queued from the next frame's
    // callback (requestAnimationFrame, then setTimeout), and this one is queued after it.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(r)))');
    await page.keyboard.type('one.png');
    await expect(field.inputValue()).resolves.toBe('https://images.example/one.png');
  });

  it('shows the view a link led to once the person logs in again, not the refusal of the ended session', async () => {
    const productId = await productWith('Opened after the session ended', ['front']);
    await page.goto(`${base}/console/products`);
    const link = page.getByRole('link', { name: 'Opened after the session ended' });
    await link.waitFor();
    // The service ends the session (a logout in another tab does; every token of the person).
    const token = await page.evaluate<string>(
      'JSON.parse(sessionStorage.getItem("pis-console-session")).token',
    );
    expect((await call(t.app, 'POST', '/api/v1/auth/logout', { bearer: token })).statusCode).toBe(
      204,
    );
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    // The person opens a product: its reads are refused, the login is asked again.
    await link.click();
    const again = page.getByRole('dialog', { name: 'Log in again' });
    await again.getByText('Your session has ended.').waitFor();
    await again.getByLabel('Password').fill(TEST_ADMIN.password);
    await again.getByRole('button', { name: 'Log in' }).click();
    await again.waitFor({ state: 'detached' });
    expect(page.url()).toBe(`${base}/console/products/${productId}`);
    // Logged in again: the gallery, not the refusal of the ended session's token.
    await eventually(
      async () =>
        (await page.getByRole('heading', { name: 'Gallery', level: 2 }).count()) === 1 ||
        (await page.locator('.error-text').count()) > 0,
      'the gallery or a refusal',
    );
    expect(await page.locator('.error-text').allTextContents()).toEqual([]);
    expect(await page.getByRole('heading', { name: 'Gallery', level: 2 }).count()).toBe(1);
  });

  // The same account as the service finds it, by another login than the first: its address in
  // capitals, or its username (the service's user id says they are one).
  it.each([
    ['their e-mail address in another case', () => Promise.resolve(TEST_ADMIN.email.toUpperCase())],
    [
      'their username, having logged in by e-mail',
      async () => {
        const me = await call(t.app, 'GET', '/api/v1/auth/me', admin);
        return me.json<{ user: { username: string } }>().user.username;
      },
    ],
  ])('keeps the view of a person who logs in again with %s', async (how, loginAgain) => {
    const name = await loginAgain();
    const productId = await productWith(`Logged in again: ${how}`, ['front']);
    await openGallery(productId);
    await page.getByRole('button', { name: 'Edit front' }).click();
    const form = page.getByRole('form', { name: 'Edit front' });
    await form.getByLabel('Alt text').fill('Typed before the session ended');
    // The service ends the session (a logout in another tab does; every token of the person).
    const token = await page.evaluate<string>(
      'JSON.parse(sessionStorage.getItem("pis-console-session")).token',
    );
    expect((await call(t.app, 'POST', '/api/v1/auth/logout', { bearer: token })).statusCode).toBe(
      204,
    );
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    await form.getByRole('button', { name: 'Save' }).click();
    const again = page.getByRole('dialog', { name: 'Log in again' });
    await again.getByText('Your session has ended.').waitFor();
    await again.getByLabel('Email or username').fill(name);
    await again.getByLabel('Password').fill(TEST_ADMIN.password);
    await again.getByRole('button', { name: 'Log in' }).click();
    await again.waitFor({ state: 'detached' });
    // Their view as they left it (not a fresh one, as for someone else), saved once they ask.
    await expect(form.getByLabel('Alt text').inputValue()).resolves.toBe(
      'Typed before the session ended',
    );
    await form.getByRole('button', { name: 'Save' }).click();
    await noticeSays('Saved “front”.');
  });

  it('goes on following an import from a URL through a new login, and shows the imported image', async () => {
    const productId = await productWith('Imported while the session ended', []);
    await openGallery(productId);
    const asked = new Promise<void>((resolve) => (heldAsked = resolve));
    await page.getByLabel('Image URL').fill(`${origin}/held.png`);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await asked;
    // The session ends while the panel follows the import (a logout in another tab).
    const token = await page.evaluate<string>(
      'JSON.parse(sessionStorage.getItem("pis-console-session")).token',
    );
    expect((await call(t.app, 'POST', '/api/v1/auth/logout', { bearer: token })).statusCode).toBe(
      204,
    );
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const again = page.getByRole('dialog', { name: 'Log in again' });
    await again.getByText('Your session has ended.').waitFor();
    releaseHeld();
    await again.getByLabel('Password').fill(TEST_ADMIN.password);
    await again.getByRole('button', { name: 'Log in' }).click();
    await again.waitFor({ state: 'detached' });
    // The service imports it; the panel says so, and the gallery shows it.
    await page.getByText('Imported: the image is now in the gallery.').waitFor();
    await page.locator('ol.gallery > li').first().waitFor();
    const images = await call(t.app, 'GET', `/api/v1/products/${productId}/images`, admin);
    expect(images.json<{ items: unknown[] }>().items).toHaveLength(1);
    expect(await page.getByText(/Not imported/).count()).toBe(0);
  });

  it('fits a product with a long one-word name and description on a 375 px screen', async () => {
    const productId = await productWith(
      'Donaudampfschifffahrtsgesellschaftskapitänsmützenhalterung',
      [],
      {
        description: 'Passend-für-alle-Donaudampfschifffahrtsgesellschaftskapitänsmützen-Modelle',
      },
    );
    await page.setViewportSize({ width: 375, height: 800 });
    await openGallery(productId);
    // Nothing wider than the screen: no sideways scrolling of the page.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
  });

  /** Where the keyboard focus is: an element's tag and text, or BODY when it is on nothing. */
  const focusedElement = () =>
    page.evaluate<string>(
      '(() => { const a = document.activeElement; return a && a !== document.body ? `${a.tagName} ${a.textContent}` : "BODY"; })()',
    );

  it('keeps the keyboard focus in the page after "Next page" of the products and of the assets', async () => {
    for (let i = 0; i < 25; i++) await productWith(`Paged ${i}`, []);
    for (let i = 0; i < 25; i++) {
      const body = multipart({ purpose: 'category', title: `paged-${i}` }, [
        { filename: `paged-${i}.png`, contentType: 'image/png', data: await png(i, 5, 5) },
      ]);
      const res = await call(t.app, 'POST', '/api/v1/images', admin, body.payload, {
        headers: body.headers,
      });
      expect(res.statusCode).toBe(201);
    }
    for (const [view, list] of [
      ['products', '.product-list'],
      ['assets', '.asset-list'],
    ]) {
      await page.goto(`${base}/console/${view}`);
      const next = page
        .getByRole('navigation', { name: `Pages of ${view}` })
        .getByRole('link', { name: 'Next page' });
      await next.focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(/cursor=/);
      await page.locator(list).waitFor();
      // Where the view put it once shown (not a fixed pause: a busy machine outlasted 300 ms).
      await eventuallyRead(
        focusedElement,
        (focused) => focused !== 'BODY',
        'the focus in the page',
      );
    }
  });
});
