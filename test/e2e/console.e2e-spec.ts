import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, ConsoleMessage, Dialog, Locator, Page, Request } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium, screenshotPath } from '../support/browser';
import { htmlBytes } from '../support/fixtures';
import { Role } from '../../src/auth/roles';
import { addUser, TEST_PASSWORD } from '../support/accounts';
import { eventually } from '../support/eventually';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { freePort } from '../support/process';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { expectAccessible as expectAccessibleAt } from '../support/accessibility';
import { CONSOLE_WAIT_MS } from '../support/console-harness';

/**
 * The gallery console (/console) as a person uses it, in Debian's Chromium: log in, create a
 * product, drop three files and watch them upload, arrange the gallery by drag and by keyboard,
 * make another image primary, edit alt text, meet a change made underneath (a 412), delete an
 * image, read an upload's refusal in words, import from a URL, and open the image, assets and
 * jobs views. Every view is checked with axe-core (no serious or critical violation) under the
 * console's own Content-Security-Policy, which must refuse nothing the console does.
 */

interface Tile {
  title: string;
  primary: boolean;
}

interface GalleryItem {
  id: string;
  title: string;
  alt_text: string;
  is_primary: boolean;
}

/** A loopback server of one PNG, for the import from a URL. */
async function startImageServer(): Promise<{
  origin: string;
  server: Server;
  release: () => void;
}> {
  const png = await sharp({
    create: { width: 320, height: 240, channels: 3, background: { r: 120, g: 40, b: 160 } },
  })
    .png()
    .toBuffer();
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/imported.png')
      return void res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    // Answered only when the test says (release): an import that takes its time.
    if (req.url === '/held.png') return void held.push(res);
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const release = () => held.splice(0).forEach((res) => res.writeHead(404).end());
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, release };
}

/** Where the console keeps its session: the tab's sessionStorage (console/src/session.ts). */
const SESSION = 'pis-console-session';

/** The third file's name: "bäck.webp" with the "ä" as a plus a combining diaeresis (NFD). */
const BACK = 'ba\u0308ck\u200b.webp';

/** Three images of different types, sizes and colours, named as a person's files would be. */
async function threeFiles(): Promise<{ name: string; type: string; data: string }[]> {
  const make = (width: number, height: number, r: number, g: number, b: number) =>
    sharp({ create: { width, height, channels: 3, background: { r, g, b } } });
  return [
    {
      name: 'front.jpg',
      type: 'image/jpeg',
      data: await make(800, 600, 30, 111, 217).jpeg().toBuffer(),
    },
    {
      name: 'side.png',
      type: 'image/png',
      data: await make(600, 800, 217, 72, 30).png().toBuffer(),
    },
    {
      // Decomposed, as macOS names files, and with a zero-width space: the title is "bäck".
      name: BACK,
      type: 'image/webp',
      data: await make(640, 640, 46, 158, 79).webp().toBuffer(),
    },
  ].map((file) => ({ ...file, data: file.data.toString('base64') }));
}

describe('The gallery console in a real browser', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let base: string;
  let images: Awaited<ReturnType<typeof startImageServer>>;
  let admin: Credential;
  let productId: string;
  const refused: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    images = await startImageServer();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // Both settle before either failure is thrown, so afterAll closes whichever did start.
    const [started, launched] = await Promise.allSettled([
      startTestApp({
        ...backend.env,
        // The images' URLs name where the app listens, so Chromium loads them from it.
        PUBLIC_BASE_URL: base,
        JOB_POLL_INTERVAL_MS: '500',
        IMPORT_ALLOWED_PRIVATE_ORIGINS: images.origin,
        // Every login comes from one address: the sessions ended on purpose log in often.
        LOGIN_RATE_LIMIT: '1000',
      }),
      launchChromium(),
    ]);
    if (started.status === 'fulfilled') t = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const result of [started, launched]) if (result.status === 'rejected') throw result.reason;
    await t.app.listen({ port, host: '127.0.0.1' });
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };

    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watchPage(page);
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await backend?.close();
    if (images?.server.listening) {
      images.server.closeAllConnections();
      await new Promise((resolve) => images.server.close(resolve));
    }
  });

  afterEach(() => {
    expect(refused).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  /** What `p` does wrong is kept, for afterEach: what the CSP refused, and the page's errors. */
  function watchPage(p: Page): void {
    p.setDefaultTimeout(CONSOLE_WAIT_MS);
    // Chromium reports what the Content-Security-Policy refused on the console.
    p.on('console', (message: ConsoleMessage) => {
      if (/Content.Security.Policy|Refused to/i.test(message.text())) refused.push(message.text());
    });
    p.on('pageerror', (error) => pageErrors.push(error.message));
  }

  /**
   * A page in a browser context of its own, opened at `path` with the session `page` holds now,
   * and with Playwright's fake clock: installed before the console's script runs, so that every
   * timer of the console is the clock's. Its time flows as real time does until a test moves it
   * on (passTime): "nothing happens for seconds" is checked without waiting seconds, and the
   * clock stays out of the page the other tests share. Its requests are watched from the first
   * (watchRequests, `counts`).
   */
  async function clockedPage(
    path: string,
    counts: (path: string) => boolean,
  ): Promise<{ clocked: Page; requests: ReturnType<typeof watchRequests> }> {
    const session = await page.evaluate<string>(
      `sessionStorage.getItem(${JSON.stringify(SESSION)})`,
    );
    const clocked = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watchPage(clocked);
    await clocked.clock.install();
    const requests = watchRequests(clocked, counts);
    // In the tab's storage before the console's script reads it, for the first document only.
    const restore = await clocked.addInitScript({
      content: `sessionStorage.setItem(${JSON.stringify(SESSION)}, ${JSON.stringify(session)});`,
    });
    await clocked.goto(`${base}${path}`);
    await restore.dispose();
    return { clocked, requests };
  }

  /**
   * The requests `p` makes to the API: `asked` holds the URLs of those whose path `counts`;
   * `answered` waits until every one made so far has had its answer (or failed).
   */
  function watchRequests(p: Page, counts: (path: string) => boolean) {
    const asked: string[] = [];
    const unanswered = new Set<Request>();
    const made = (request: Request) => {
      const path = new URL(request.url()).pathname;
      if (!path.startsWith('/api/')) return;
      unanswered.add(request);
      if (counts(path)) asked.push(request.url());
    };
    const ended = (request: Request) => void unanswered.delete(request);
    p.on('request', made);
    p.on('requestfinished', ended);
    p.on('requestfailed', ended);
    return {
      asked,
      answered: () => eventually(() => unanswered.size === 0, 'the requests made to be answered'),
      stop: () => {
        p.off('request', made);
        p.off('requestfinished', ended);
        p.off('requestfailed', ended);
      },
    };
  }

  /**
   * Moves the fake clock of `p` (a clockedPage) on `times` times by `ms`, firing every timer due
   * meanwhile, with no real wait. Before each move and after the last, the requests made are
   * answered: a round that a timer sets off has its answers, and a page that would go on asking
   * has scheduled its next round, before time moves on (if not by one move, then by the next).
   */
  async function passTime(
    p: Page,
    requests: ReturnType<typeof watchRequests>,
    ms: number,
    times: number,
  ): Promise<void> {
    for (let i = 0; i < times; i++) {
      await requests.answered();
      await p.clock.runFor(ms);
    }
    // A request a timer of the last move started may reach Playwright's listeners after runFor
    // has returned: given a moment of real time to be seen, then its answer (from the review: a
    // count read right after one move could otherwise miss it, and a later count fail the test).
    await p.waitForTimeout(100);
    await requests.answered();
  }

  const expectAccessible = (view: string) => expectAccessibleAt(page, view);

  /**
   * Waits until `expression` is true in the page. Evaluated through the DevTools protocol:
   * waitForFunction evaluates in the page, which the console's CSP (no 'unsafe-eval') refuses.
   */
  async function until(expression: string): Promise<void> {
    // Asked every 20 ms (each a round trip to the page): a step waits little past the moment.
    const deadline = Date.now() + CONSOLE_WAIT_MS;
    while (Date.now() < deadline) {
      if (await page.evaluate<boolean>(expression)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`Never true in the page: ${expression}`);
  }

  async function screenshot(name: string): Promise<void> {
    // Images decoded, so that the picture shows what a person sees.
    await until(
      '[...document.images].every((img) => img.complete && (img.naturalWidth > 0 || img.loading === "lazy"))',
    );
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: screenshotPath(name), fullPage: true });
  }

  function tiles(): Locator {
    return page.locator('ol.gallery > li');
  }

  function tile(title: string): Locator {
    return tiles().filter({
      has: page.locator('.tile-title', { hasText: new RegExp(`^${title}\\b`) }),
    });
  }

  /** The gallery as the page shows it. */
  async function shownOrder(): Promise<Tile[]> {
    const items = await tiles().all();
    return Promise.all(
      items.map(async (item) => ({
        title: ((await item.locator('.tile-title').textContent()) ?? '').replace(/,.*$/, '').trim(),
        primary: (await item.locator('.badge-primary').count()) === 1,
      })),
    );
  }

  /** The gallery as the API answers it. */
  async function galleryFromApi(): Promise<GalleryItem[]> {
    const res = await call(t.app, 'GET', `/api/v1/products/${productId}/images`, admin);
    expect(res.statusCode).toBe(200);
    return res.json<{ items: GalleryItem[] }>().items;
  }

  /** A small PNG of one colour, for the uploads a test makes and removes again. */
  const swatch = (r: number, g: number, b: number): Promise<Buffer> =>
    sharp({ create: { width: 64, height: 48, channels: 3, background: { r, g, b } } })
      .png()
      .toBuffer();

  /**
   * Holds the page's uploads to the product on their way to the service, each until let go;
   * `sent` names their files in the order they were sent.
   */
  async function holdUploads() {
    const gates: (() => void)[] = [];
    const sent: string[] = [];
    let open = false;
    const uploads = `**/api/v1/products/${productId}/images`;
    await page.route(uploads, async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      const body = route.request().postDataBuffer()?.toString('latin1') ?? '';
      sent.push(/filename="([^"]*)"/.exec(body)?.[1] ?? '');
      if (!open) await new Promise<void>((resolve) => gates.push(resolve));
      // The page may have gone meanwhile (when the test fails), and the request with it.
      await route.continue().catch(() => undefined);
    });
    const letAllGo = () => {
      open = true;
      for (const gate of gates.splice(0)) gate();
    };
    return {
      sent,
      waiting: () => gates.length,
      letOneGo: () => gates.shift()?.(),
      letAllGo,
      stop: async () => {
        letAllGo();
        await page.unroute(uploads);
      },
    };
  }

  /**
   * The images added to the gallery since it held `before` are `titles`: deleted again, and the
   * page reloaded, so that the next tests find the gallery as they expect it.
   */
  async function removeAdded(before: string[], titles: string[]): Promise<void> {
    const added = (await galleryFromApi()).filter((image) => !before.includes(image.id));
    expect(added.map((image) => image.title)).toEqual(titles);
    for (const image of added) {
      const path = `/api/v1/products/${productId}/images/${image.id}`;
      expect((await call(t.app, 'DELETE', path, admin)).statusCode).toBe(204);
    }
    await page.reload();
    await until(`document.querySelectorAll("ol.gallery > li").length === ${before.length}`);
  }

  const titles = (items: { title: string }[]) => items.map((i) => i.title);

  it('serves the page and its files with a policy of its own: scripts and styles from the service only', async () => {
    const res = await call(t.app, 'GET', '/console');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-cache');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).toContain("connect-src 'self';");
    expect(csp).toMatch(new RegExp(`img-src 'self' ${base.replace(/[.:/]/g, '\\$&')}[ ;]`));
    expect(csp).not.toContain('unsafe');
    // Nothing inline: every script is a file, and no element has a style attribute.
    const html = res.body;
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=/);
    const script = /<script[^>]*src="([^"]+)"/.exec(html)?.[1];
    expect(script).toMatch(/^\/console\/assets\/.+\.js$/);
    const bundle = await call(t.app, 'GET', script!);
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect(bundle.headers['cache-control']).toMatch(
      /max-age=31536000.*immutable|immutable.*max-age=31536000/,
    );

    // A view's own address opens the page (the console routes it); a missing file is a 404.
    const deep = await call(t.app, 'GET', '/console/products/9bYsGJZVNPTSbQeJxuSeuy');
    expect(deep.statusCode).toBe(200);
    expect(deep.body).toBe(html);
    const missing = await call(t.app, 'GET', '/console/assets/nothing-here.js');
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('logs in through the login route; the token is kept in the tab, never in the address', async () => {
    await page.goto(`${base}/console`);
    await page.getByRole('heading', { name: 'Log in to the console' }).waitFor();
    await expectAccessible('login');
    await screenshot('console-login');

    await page.getByLabel('Email or username').fill(TEST_ADMIN.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain(
      'The email, username or password is wrong.',
    );

    await page.getByLabel('Password').fill(TEST_ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    const stored = await page.evaluate<string>('sessionStorage.getItem("pis-console-session")');
    const token = JSON.parse(stored).token as string;
    expect(token.split('.')).toHaveLength(3);
    expect(page.url()).not.toContain(token);
    expect(page.url()).toBe(`${base}/console`);
  });

  it('creates a product and opens its empty gallery', async () => {
    await page.getByRole('button', { name: 'New product' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Blue running shoe');
    await page.getByLabel('GTIN (optional)').fill('4006381333931');
    // Refused: the service's reason for the field is shown, not only that it was refused.
    await page.getByLabel('External id (optional)').fill('shoe/4711');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'external_id must be 1 to 255 characters, without "/"' })
      .waitFor();
    await page.getByLabel('External id (optional)').fill('shoe-4711');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByRole('heading', { name: 'Blue running shoe', level: 1 }).waitFor();
    productId = /\/console\/products\/([^/]+)$/.exec(page.url())![1];
    expect(await galleryFromApi()).toEqual([]);
    await page.getByText('No images yet').waitFor();
  });

  it('uploads three dropped files, each with a progress bar that runs to the end', async () => {
    const files = await threeFiles();
    // A drop as the browser makes it: a DataTransfer holding the files, on the drop zone.
    await page.evaluate(`(() => {
      const files = ${JSON.stringify(files)};
      const transfer = new DataTransfer();
      for (const f of files) {
        const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], f.name, { type: f.type }));
      }
      const zone = document.querySelector('[data-testid="dropzone"]');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
      }
    })()`);
    const rows = page.locator('.uploads > li');
    await expect(rows.count()).resolves.toBe(3);
    for (const name of ['front.jpg', 'side.png', BACK]) {
      const row = page.locator(`.uploads > li[data-upload="${name}"]`);
      await row.locator('.upload-state', { hasText: 'Uploaded' }).waitFor();
      const bar = row.getByRole('progressbar', { name: `Upload of ${name}` });
      const [value, max] = await bar.evaluate((element) => {
        const progress = element as unknown as { value: number; max: number };
        return [progress.value, progress.max];
      });
      expect(value).toBeGreaterThan(0);
      expect(value).toBe(max);
    }
    // The gallery is drawn again once its GET after the last upload answers, which may come
    // after the rows say "Uploaded": counted once it is.
    await until('document.querySelectorAll("ol.gallery > li").length >= 3');
    await expect(tiles().count()).resolves.toBe(3);
    // In the order dropped; the first upload became the primary image.
    expect(await shownOrder()).toEqual([
      { title: 'front', primary: true },
      { title: 'side', primary: false },
      { title: 'bäck', primary: false },
    ]);
    expect(titles(await galleryFromApi())).toEqual(['front', 'side', 'bäck']);
    // Each tile's <picture> is the response's responsive srcsets, with the image's alt text.
    const source = tile('front').locator('source[type="image/avif"]');
    expect(await source.getAttribute('srcset')).toContain(`${base}/transform/`);
    await expectAccessible('gallery');
  });

  it('reorders by dragging an image onto another, sending the gallery version as If-Match', async () => {
    const reorders: (string | undefined)[] = [];
    const listener = (request: {
      url(): string;
      method(): string;
      headers(): Record<string, string>;
    }) => {
      if (request.method() === 'PUT' && request.url().endsWith('/images/order')) {
        reorders.push(request.headers()['if-match']);
      }
    };
    page.on('request', listener);
    await tile('bäck').dragTo(tile('side'));
    await page.getByText('Moved “bäck” to position 2 of 3.').waitFor();
    page.off('request', listener);
    expect(reorders).toHaveLength(1);
    expect(reorders[0]).toMatch(/^"\d+"$/);
    expect(titles(await galleryFromApi())).toEqual(['front', 'bäck', 'side']);
    expect(titles(await shownOrder())).toEqual(['front', 'bäck', 'side']);
  });

  it('reorders with the keyboard: the move buttons, the focus staying on the moved image', async () => {
    await tile('bäck').getByRole('button', { name: 'Move bäck later' }).focus();
    await page.keyboard.press('Enter');
    await page.getByText('Moved “bäck” to position 3 of 3.').waitFor();
    expect(titles(await galleryFromApi())).toEqual(['front', 'side', 'bäck']);
    // At the end it can only move earlier: the focus went to that button of the same image.
    await until('document.activeElement?.getAttribute("aria-label") === "Move bäck earlier"');
  });

  it('makes another image primary', async () => {
    await tile('side').getByRole('button', { name: 'Make primary: side' }).click();
    await page.getByText('“side” is now the primary image.').waitFor();
    // Its Make primary button is gone: the focus is on its Edit button, not lost.
    await until('document.activeElement?.getAttribute("aria-label") === "Edit side"');
    expect(await shownOrder()).toEqual([
      { title: 'side', primary: true },
      { title: 'front', primary: false },
      { title: 'bäck', primary: false },
    ]);
    const primary = (await galleryFromApi()).filter((i) => i.is_primary);
    expect(titles(primary)).toEqual(['side']);
  });

  it('edits the alt text in place, and the picture carries it', async () => {
    await tile('front').getByRole('button', { name: 'Edit front' }).click();
    const form = page.getByRole('form', { name: 'Edit front' });
    // The form takes the focus.
    await until('document.activeElement?.id?.startsWith("title-") === true');
    await form.getByLabel('Alt text').fill('A blue running shoe, seen from the front');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved “front”.').waitFor();
    await until('document.activeElement?.getAttribute("aria-label") === "Edit front"');
    expect((await galleryFromApi()).find((i) => i.title === 'front')?.alt_text).toBe(
      'A blue running shoe, seen from the front',
    );
    expect(await tile('front').locator('img').getAttribute('alt')).toBe(
      'A blue running shoe, seen from the front',
    );
    await screenshot('console-gallery');
  });

  it('asks for the login again when the session ends mid-edit, and keeps what was typed', async () => {
    await tile('side').getByRole('button', { name: 'Edit side' }).click();
    const form = page.getByRole('form', { name: 'Edit side' });
    await form.getByLabel('Alt text').fill('Typed before the session ended');
    await expect(form.getByLabel('Alt text').inputValue()).resolves.toBe(
      'Typed before the session ended',
    );
    // The service ends the session's token, as a logout in another tab of the person does (it
    // ends every token of theirs: the test's own too, taken again).
    const token = await page.evaluate<string>(
      'JSON.parse(sessionStorage.getItem("pis-console-session")).token',
    );
    const ended = await call(t.app, 'POST', '/api/v1/auth/logout', { bearer: token });
    expect(ended.statusCode).toBe(204);
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    await form.getByRole('button', { name: 'Save' }).click();
    const again = page.getByRole('dialog', { name: 'Log in again' });
    await again.getByText('Your session has ended.').waitFor();
    // The name is kept; the password is asked, where the focus is.
    await expect(again.getByLabel('Email or username').inputValue()).resolves.toBe(
      TEST_ADMIN.email,
    );
    await until('document.activeElement?.id === "login-password"');
    await expectAccessible('login asked again');
    await again.getByLabel('Password').fill(TEST_ADMIN.password);
    await again.getByRole('button', { name: 'Log in' }).click();
    await again.waitFor({ state: 'detached' });
    // The form as the person left it, saved once they ask again.
    await expect(form.getByLabel('Alt text').inputValue()).resolves.toBe(
      'Typed before the session ended',
    );
    await form.getByRole('button', { name: 'Save' }).click();
    // Saved: the form closes (the notice may still be the last save's).
    await form.waitFor({ state: 'detached' });
    expect((await galleryFromApi()).find((i) => i.title === 'side')?.alt_text).toBe(
      'Typed before the session ended',
    );
    // Put back as it was, as the next tests expect it.
    await tile('side').getByRole('button', { name: 'Edit side' }).click();
    await form.getByLabel('Alt text').fill('');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.waitFor({ state: 'detached' });
    expect((await galleryFromApi()).find((i) => i.title === 'side')?.alt_text).toBe('');
  });

  it('holds the upload queue while the login is asked again, and minds no late answer to an old token', async () => {
    const png = await swatch(90, 20, 200);
    const before = (await galleryFromApi()).map((image) => image.id);
    // Each upload is held on its way to the service until the test lets it go.
    const held = await holdUploads();
    const row = (name: string) => page.locator(`.uploads > li[data-upload="${name}"]`);
    const stateOf = (name: string) => row(name).locator('.upload-state');
    const again = page.getByRole('dialog', { name: 'Log in again' });
    /** The service ends the person's tokens (the test's own too, taken again). */
    const endTokens = async () => {
      const token = await page.evaluate<string>(
        'JSON.parse(sessionStorage.getItem("pis-console-session")).token',
      );
      expect((await call(t.app, 'POST', '/api/v1/auth/logout', { bearer: token })).statusCode).toBe(
        204,
      );
      admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    };
    const logInAgain = async () => {
      await again.getByLabel('Password').fill(TEST_ADMIN.password);
      await again.getByRole('button', { name: 'Log in' }).click();
      await again.waitFor({ state: 'detached' });
    };
    try {
      await page.locator('#upload-files').setInputFiles(
        ['q1.png', 'q2.png', 'q3.png'].map((name) => ({
          name,
          mimeType: 'image/png',
          buffer: png,
        })),
      );
      await eventually(() => held.waiting() === 1, 'the first upload to be on its way');
      await endTokens();
      // Its answer, a 401, ends the session: the next uploads wait for the login, unsent.
      held.letOneGo();
      await again.getByText('Your session has ended.').waitFor();
      // Not refused: nothing was wrong with the file, which can be sent again once logged in.
      await stateOf('q1.png').filter({ hasText: 'Not stored' }).waitFor();
      await expect(stateOf('q2.png').textContent()).resolves.toBe('Waiting');
      // Escape, however often, leaves the question open: the view behind it is inert.
      for (let i = 0; i < 3; i++) await page.keyboard.press('Escape');
      await until('document.querySelector("dialog.login-again")?.open === true');
      await again.getByLabel('Password').waitFor();
      expect(held.sent).toEqual(['q1.png']);
      await logInAgain();
      for (const name of ['q2.png', 'q3.png']) {
        await eventually(() => held.waiting() > 0, `${name} to be sent`);
        held.letOneGo();
        await stateOf(name).filter({ hasText: 'Uploaded' }).waitFor();
      }

      // An upload on its way with this token when the service ends it and the person logs in
      // again: its late 401 is the old token's, and ends nothing.
      await page.locator('#upload-files').setInputFiles({
        name: 'q4.png',
        mimeType: 'image/png',
        buffer: png,
      });
      await eventually(() => held.waiting() === 1, 'the fourth upload to be on its way');
      await endTokens();
      await tile('side').getByRole('button', { name: 'Edit side' }).click();
      const form = page.getByRole('form', { name: 'Edit side' });
      // A change to send (a form with none closes without a request).
      await form.getByLabel('Description').fill('Not to be kept');
      await form.getByRole('button', { name: 'Save' }).click();
      await logInAgain();
      await form.getByRole('button', { name: 'Cancel' }).click();
      held.letOneGo();
      await stateOf('q4.png').filter({ hasText: 'Not stored' }).waitFor();
      expect(await page.getByRole('button', { name: 'Retry upload of q4.png' }).count()).toBe(1);
      await page.getByRole('heading', { name: 'Add images' }).click();
      expect(await again.count()).toBe(0);
    } finally {
      await held.stop();
    }
    await removeAdded(before, ['q2', 'q3']);
  });

  it('meets a change made underneath: 412, the gallery reloaded, and the person told', async () => {
    // A second client reorders the gallery after the page read it.
    const before = await galleryFromApi();
    const theirs = [before[0], before[2], before[1]];
    const res = await call(t.app, 'PUT', `/api/v1/products/${productId}/images/order`, admin, {
      image_ids: theirs.map((i) => i.id),
    });
    expect(res.statusCode).toBe(200);

    const answers: number[] = [];
    const listener = (response: {
      url(): string;
      status(): number;
      request(): { method(): string };
    }) => {
      if (response.request().method() === 'PUT' && response.url().endsWith('/images/order')) {
        answers.push(response.status());
      }
    };
    page.on('response', listener);
    await tile('front').getByRole('button', { name: 'Move front later' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'Someone else changed this gallery' })
      .waitFor();
    page.off('response', listener);
    expect(answers).toEqual([412]);
    // The page shows the other client's order, and nothing of the refused move was saved.
    await until(
      `[...document.querySelectorAll("ol.gallery .tile-title")].map((e) => e.textContent.split(",")[0].trim()).join() === ${JSON.stringify(titles(theirs).join())}`,
    );
    expect(titles(await galleryFromApi())).toEqual(titles(theirs));
    await expectAccessible('gallery after a 412');
  });

  it('puts the order back when a move does not reach the service', async () => {
    const before = titles(await galleryFromApi());
    await page.route('**/images/order', (route) => route.abort('connectionfailed'));
    try {
      await tile(before[1])
        .getByRole('button', { name: `Move ${before[1]} later` })
        .click();
      await page.getByRole('alert').filter({ hasText: 'could not be reached' }).waitFor();
    } finally {
      await page.unroute('**/images/order');
    }
    await until(
      `[...document.querySelectorAll("ol.gallery .tile-title")].map((e) => e.textContent.split(",")[0].trim()).join() === ${JSON.stringify(before.join())}`,
    );
    expect(titles(await galleryFromApi())).toEqual(before);
  });

  it('keeps a move the service made when the gallery cannot be read again after it', async () => {
    const before = titles(await galleryFromApi());
    expect(before.length).toBeGreaterThanOrEqual(3);
    const galleryRead = (url: URL) => url.pathname.endsWith('/images') && url.search !== '';
    let reads = 0;
    await page.route(galleryRead, (route) =>
      route.request().method() === 'GET' && reads++ === 0
        ? route.abort('connectionfailed')
        : route.continue(),
    );
    try {
      await tile(before[1])
        .getByRole('button', { name: `Move ${before[1]} later` })
        .click();
      await page.getByRole('alert').filter({ hasText: 'could not be read again' }).waitFor();
    } finally {
      await page.unroute(galleryRead);
    }
    const moved = [before[0], before[2], before[1], ...before.slice(3)];
    expect(titles(await galleryFromApi())).toEqual(moved);
    await until(
      `[...document.querySelectorAll("ol.gallery .tile-title")].map((e) => e.textContent.split(",")[0].trim()).join() === ${JSON.stringify(moved.join())}`,
    );
    // Back as it was, for the tests after this one.
    await tile(before[1])
      .getByRole('button', { name: `Move ${before[1]} earlier` })
      .click();
    await page.getByText(/^Moved “.+” to position 2 of/).waitFor();
    expect(titles(await galleryFromApi())).toEqual(before);
  });

  it('deletes an image once the person confirms', async () => {
    // Cancelled: the focus goes back to the button that asked.
    await tile('bäck').getByRole('button', { name: 'Delete bäck' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this image?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await until('document.activeElement?.getAttribute("aria-label") === "Delete bäck"');
    await tile('bäck').getByRole('button', { name: 'Delete bäck' }).click();
    await dialog.waitFor();
    await expectAccessible('delete confirmation');
    await dialog.getByRole('button', { name: 'Delete image' }).click();
    await page.getByText('Deleted “bäck”.').waitFor();
    // Its button gone with it: the focus is on the gallery's heading, not lost.
    await until('document.activeElement?.id === "gallery-title"');
    expect(titles(await galleryFromApi())).toEqual(['side', 'front']);
    expect(titles(await shownOrder())).toEqual(['side', 'front']);
  });

  it('shows an upload the service refuses with the problem in words', async () => {
    // A web page saved as .jpg: the service reads the bytes, not the name.
    await page.locator('#upload-files').setInputFiles({
      name: 'notes.jpg',
      mimeType: 'image/jpeg',
      buffer: htmlBytes(),
    });
    const row = page.locator('.uploads > li[data-upload="notes.jpg"]');
    await row.locator('.upload-state', { hasText: 'Refused' }).waitFor();
    await expect(row.getByRole('alert').textContent()).resolves.toBe(
      'notes.jpg: Type refused. The file is not a JPEG, PNG, GIF, WebP, AVIF, BMP or SVG image.',
    );
    expect(await galleryFromApi()).toHaveLength(2);
  });

  it('asks before the page goes while an upload is unanswered, and not once it is', async () => {
    const png = await swatch(10, 120, 60);
    // The upload is held on its way to the service until the test lets it go.
    const held = await holdUploads();
    const asked: string[] = [];
    // Dismissed, as a person who chooses to stay: the page and its upload stay.
    const stay = (dialog: Dialog) => {
      asked.push(dialog.type());
      void dialog.dismiss();
    };
    page.on('dialog', stay);
    try {
      const before = (await galleryFromApi()).map((image) => image.id);
      await page.locator('#upload-files').setInputFiles({
        name: 'late.png',
        mimeType: 'image/png',
        buffer: png,
      });
      const row = page.locator('.uploads > li[data-upload="late.png"]');
      await row.locator('.upload-state', { hasText: /Sending|Processing/ }).waitFor();
      // A click first: Chromium asks only on a page the person has used.
      await page.getByRole('heading', { name: 'Add images' }).click();
      await page.evaluate('setTimeout(() => location.reload())');
      await eventually(() => asked.length > 0, 'the question before leaving');
      expect(asked).toEqual(['beforeunload']);
      held.letOneGo();
      await row.locator('.upload-state', { hasText: 'Uploaded' }).waitFor();
      // Answered: the page goes without a question.
      await page.reload();
      await page.getByRole('heading', { name: 'Blue running shoe', level: 1 }).waitFor();
      expect(asked).toEqual(['beforeunload']);
      await removeAdded(before, ['late']);
    } finally {
      page.off('dialog', stay);
      await held.stop();
    }
  });

  it('cancels uploads waiting their turn: they are never sent', async () => {
    const png = await swatch(200, 120, 20);
    const before = (await galleryFromApi()).map((image) => image.id);
    // The first upload is held on its way to the service, so that the others wait their turn.
    const held = await holdUploads();
    try {
      await page.locator('#upload-files').setInputFiles(
        ['first.png', 'next.png', 'last.png'].map((name) => ({
          name,
          mimeType: 'image/png',
          buffer: png,
        })),
      );
      const row = (name: string) => page.locator(`.uploads > li[data-upload="${name}"]`);
      await row('next.png').locator('.upload-state', { hasText: 'Waiting' }).waitFor();
      // Only those waiting offer it: the first is on its way.
      expect(await row('first.png').getByRole('button').count()).toBe(0);
      await page.getByRole('button', { name: 'Cancel upload of next.png' }).click();
      await row('next.png').locator('.upload-state', { hasText: 'Cancelled' }).waitFor();
      // Its button gone with it, the focus is on the panel's heading.
      await until('document.activeElement?.id === "upload-title"');
      held.letAllGo();
      await row('last.png').locator('.upload-state', { hasText: 'Uploaded' }).waitFor();
      await expect(row('next.png').locator('.upload-state').textContent()).resolves.toBe(
        'Cancelled',
      );
    } finally {
      await held.stop();
    }
    expect(held.sent).toEqual(['first.png', 'last.png']);
    await removeAdded(before, ['first', 'last']);
  });

  it('imports an image from a URL into the gallery', async () => {
    await page.getByLabel('Image URL').fill(`${images.origin}/imported.png`);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByText('Imported: the image is now in the gallery.').waitFor();
    // Said once the reloaded gallery is shown: the tile is there.
    await expect(tiles().count()).resolves.toBe(3);
    expect(await galleryFromApi()).toHaveLength(3);
  });

  it('imports an image from a URL once when the answer to its start is lost and the person imports again', async () => {
    const before = (await galleryFromApi()).map((image) => image.id);
    // The service starts the import; its answer is lost on the way back (a dropped connection).
    let lose = true;
    const keys: (string | undefined)[] = [];
    await page.route('**/api/v1/imports', async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      keys.push(route.request().headers()['idempotency-key']);
      if (!lose) return route.fallback();
      lose = false;
      await route.fetch();
      await route.abort('connectionreset');
    });
    try {
      await page.getByLabel('Image URL').fill(`${images.origin}/imported.png`);
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await page.getByText('No answer came from the service').waitFor();
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await page.getByText('Imported: the image is now in the gallery.').waitFor();
    } finally {
      await page.unroute('**/api/v1/imports');
    }
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    const added = (await galleryFromApi()).filter((image) => !before.includes(image.id));
    expect(added).toHaveLength(1);
    await removeAdded(
      before,
      added.map((image) => image.title),
    );
  });

  it('stops following an import once the person leaves the gallery', async () => {
    const gallery = `/console/products/${productId}`;
    const { clocked, requests } = await clockedPage(gallery, (path) =>
      path.startsWith('/api/v1/imports/'),
    );
    try {
      await clocked.getByLabel('Image URL').fill(`${images.origin}/held.png`);
      await clocked.getByRole('button', { name: 'Import', exact: true }).click();
      await clocked.getByText('The service is fetching the image…').waitFor();
      // It follows the import while shown (asked every 0.7 s).
      await eventually(() => requests.asked.length > 0, 'the import to be followed');
      await clocked
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Products' })
        .click();
      await clocked.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
      await requests.answered();
      const left = requests.asked.length;
      // Four of its polling periods (0.7 s) later, nothing more was asked.
      await passTime(clocked, requests, 700, 4);
      expect(requests.asked).toHaveLength(left);
      images.release(); // the import's row fails (404): the gallery is as it was
      await clocked.goto(`${base}${gallery}`);
      // The gallery is drawn once its GET answers, after the page has loaded.
      await clocked.locator('ol.gallery > li').nth(2).waitFor();
      await expect(clocked.locator('ol.gallery > li').count()).resolves.toBe(3);
    } finally {
      requests.stop();
      images.release();
      await clocked.close();
    }
  });

  it('shows an image: the original’s facts and each rendition at its real size', async () => {
    await tile('front').getByRole('link', { name: 'Details of front' }).click();
    await page.getByRole('heading', { name: 'front', level: 1 }).waitFor();
    const facts = page.locator('dl.facts');
    await facts.getByText('image/jpeg (JPEG)').waitFor();
    await facts.getByText('800 × 600 pixels').waitFor();
    await facts.getByText('RGB', { exact: true }).waitFor();
    await facts.getByText(/\(admin\)$/).waitFor();
    const renditions = page.locator('.renditions img');
    await expect(renditions.count()).resolves.toBeGreaterThanOrEqual(3);
    await until(
      '[...document.querySelectorAll(".renditions img")].every((i) => i.complete && i.naturalWidth > 0)',
    );
    // Real size: each is drawn a CSS pixel per pixel of the rendition.
    const sizes = await page.evaluate<number[][]>(
      '[...document.querySelectorAll(".renditions img")].map((i) => [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight])',
    );
    for (const [naturalWidth, naturalHeight, width, height] of sizes) {
      expect([width, height]).toEqual([naturalWidth, naturalHeight]);
    }
    await expectAccessible('image');
    await screenshot('console-image');
  });

  it('edits a product’s own fields and deletes it, each with its version as If-Match', async () => {
    const made = await call(t.app, 'POST', '/api/v1/products', admin, {
      name: 'Desk lamp',
      gtin: '96385074',
    });
    expect(made.statusCode).toBe(201);
    const lamp = `/api/v1/products/${made.json<{ id: string }>().id}`;
    const read = async () =>
      (await call(t.app, 'GET', lamp, admin)).json<Record<string, unknown>>();
    await page.goto(`${base}/console/products/${made.json<{ id: string }>().id}`);
    await page.getByRole('heading', { name: 'Desk lamp', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Edit product' }).click();
    const form = page.getByRole('form', { name: 'Edit product' });
    await until('document.activeElement?.id === "product-name"');
    await form.getByLabel('Description').fill('Brass, with a linen shade.');
    await form.getByLabel('GTIN (empty: none)').fill('');
    await form.getByRole('button', { name: 'Save product' }).click();
    await page.getByText('Saved “Desk lamp”.').waitFor();
    await until('document.activeElement?.textContent === "Edit product"');
    await page.getByText('Brass, with a linen shade.').waitFor();
    const saved = await read();
    expect(saved).toMatchObject({ description: 'Brass, with a linen shade.', gtin: null });
    expect(saved.version).toBeGreaterThan(made.json<{ version: number }>().version);

    // Another client renames it after the page read it: the next save is refused, not written.
    const theirs = await call(t.app, 'PATCH', lamp, admin, { name: 'Reading lamp' });
    expect(theirs.statusCode).toBe(200);
    await page.getByRole('button', { name: 'Edit product' }).click();
    // Typed once the form has filled from the product (text typed before was written over).
    await until(
      `document.querySelector('#product-description')?.value === 'Brass, with a linen shade.'`,
    );
    await form.getByLabel('Description').fill('Mine');
    await form.getByRole('button', { name: 'Save product' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'Someone else changed this product' })
      .waitFor();
    await page.getByRole('heading', { name: 'Reading lamp', level: 1 }).waitFor();
    expect(await read()).toMatchObject({
      description: 'Brass, with a linen shade.',
      version: theirs.json<{ version: number }>().version,
    });
    await expectAccessible('product after a 412');
    // The form stays open with what the person wrote, and the other person's name in it.
    await expect(form.getByLabel('Description').inputValue()).resolves.toBe('Mine');
    await expect(form.getByLabel('Name').inputValue()).resolves.toBe('Reading lamp');
    await form.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('button', { name: 'Delete product' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this product?' });
    await dialog.getByText('“Reading lamp” will be deleted. This cannot be undone.').waitFor();
    await dialog.getByRole('button', { name: 'Delete product' }).click();
    await page.waitForURL(/\/console\/products$/);
    expect((await call(t.app, 'GET', lamp, admin)).statusCode).toBe(404);
  });

  it('offers a read-only user the galleries to look at, and nothing to change', async () => {
    await addUser(t.app, admin, 'vera', Role.User);
    const viewer = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    viewer.setDefaultTimeout(CONSOLE_WAIT_MS);
    const errors: string[] = [];
    viewer.on('pageerror', (error) => errors.push(error.message));
    try {
      await viewer.goto(`${base}/console`);
      await viewer.getByLabel('Email or username').fill('vera');
      await viewer.getByLabel('Password').fill(TEST_PASSWORD);
      await viewer.getByRole('button', { name: 'Log in' }).click();
      await viewer.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
      // The role is read after the login: then the actions a user may not take go.
      await viewer.waitForFunction(
        () => sessionStorage.getItem('pis-console-session')?.includes('"role":"user"') === true,
      );
      expect(await viewer.getByRole('button', { name: 'New product' }).count()).toBe(0);
      await viewer.goto(`${base}/console/products/${productId}`);
      await viewer.getByRole('heading', { name: 'Blue running shoe', level: 1 }).waitFor();
      await viewer.getByText('Your account may look at galleries, not change them.').waitFor();
      await viewer.getByRole('link', { name: 'Details of front' }).waitFor();
      for (const name of ['Edit front', 'Delete front', 'Move front later', 'Edit product']) {
        expect([name, await viewer.getByRole('button', { name }).count()]).toEqual([name, 0]);
      }
      expect(await viewer.locator('[draggable="true"]').count()).toBe(0);
      expect(await viewer.getByRole('button', { name: 'Import' }).count()).toBe(0);
      expect(await viewer.locator('input[type="file"]').count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await viewer.close();
    }
  });

  it('lists the products with their primary image, GTIN, external id and image count, and finds one', async () => {
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Products' })
      .click();
    const card = page.locator('.product-card', { hasText: 'Blue running shoe' });
    await card.waitFor();
    await card
      .locator('.facts-inline div', { hasText: 'Images' })
      .getByText('3', { exact: true })
      .waitFor();
    await card.getByText('04006381333931').waitFor();
    await card.getByText('shoe-4711').waitFor();
    expect(await card.locator('img').getAttribute('alt')).toBe('');
    await expectAccessible('products');
    await screenshot('console-products');
    for (const search of ['4006381333931', 'shoe-4711', 'Blue running shoe']) {
      await page.getByLabel('Find by GTIN, external id or name').fill(search);
      await page.getByRole('button', { name: 'Search' }).click();
      // This search's own address, not the one before's (which also has a `q`): otherwise the next
      // search was typed while this one's view was still coming, and reset to this one's text.
      await page.waitForURL((url) => url.searchParams.get('q') === search);
      await page.locator('.product-card', { hasText: 'Blue running shoe' }).waitFor();
    }
    await page.getByLabel('Find by GTIN, external id or name').fill('no such product');
    await page.getByRole('button', { name: 'Search' }).click();
    await page
      .getByText('No product has the GTIN, external id or name “no such product”.')
      .waitFor();
  });

  it('finds products by digits that are no GTIN, and by a long name cut where a word ends', async () => {
    const longName = `Premium ${'x'.repeat(91)} shoe`;
    const made = [
      { name: 'Numbered', external_id: '100000000001' }, // 12 digits, not a valid GTIN
      { name: '20231231' }, // a name of 8 digits
      { name: longName }, // its slug, cut to 100 characters, would end in "-"
    ];
    for (const product of made) {
      expect((await call(t.app, 'POST', '/api/v1/products', admin, product)).statusCode).toBe(201);
    }
    for (const [search, name] of [
      ['100000000001', 'Numbered'],
      ['20231231', '20231231'],
      [longName, longName],
    ]) {
      await page.getByLabel('Find by GTIN, external id or name').fill(search);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.locator('.product-card', { hasText: name }).first().waitFor();
    }
  });

  it('lists the stand-alone images by purpose, with their keys and URLs to copy', async () => {
    const logo = multipart(
      { purpose: 'account', title: 'Shop logo', alt_text: 'The shop’s logo' },
      [
        {
          data: await sharp({
            create: { width: 300, height: 120, channels: 4, background: '#0b5cad' },
          })
            .png()
            .toBuffer(),
          contentType: 'image/png',
          filename: 'logo.png',
        },
      ],
    );
    const uploaded = await call(t.app, 'POST', '/api/v1/images', admin, logo.payload, {
      headers: logo.headers,
    });
    expect(uploaded.statusCode).toBe(201);
    const { key, url } = uploaded.json<{ key: string; url: string }>();

    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Assets' })
      .click();
    await page.getByRole('heading', { name: 'Assets', level: 1 }).waitFor();
    await page.getByLabel('Purpose').selectOption('account');
    await page.waitForURL(/purpose=account/);
    const card = page.locator('.asset-card', { hasText: 'Shop logo' });
    await card.waitFor();
    expect(await card.getByRole('textbox', { name: 'Storage key' }).inputValue()).toBe(key);
    expect(await card.getByRole('textbox', { name: 'URL', exact: true }).inputValue()).toBe(url);
    await card.getByRole('button', { name: 'Copy storage key' }).click();
    await card.getByRole('button', { name: 'Copied storage key' }).waitFor();
    await page.getByLabel('Purpose').selectOption('category');
    await page.getByText('No category assets.').waitFor();
    await page.getByLabel('Purpose').selectOption('account');
    await card.waitFor();
    await expectAccessible('assets');
    await screenshot('console-assets');
  });

  it('follows the bulk imports and rendition rebuilds as they progress', async () => {
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Jobs' })
      .click();
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
    const item = page
      .getByRole('region', { name: 'Bulk imports' })
      .locator('.progress-item')
      .first();
    await item.getByText('1 of 1 done').waitFor();
    await item.getByText('completed').waitFor();
    const bar = item.getByRole('progressbar');
    expect(await bar.getAttribute('value')).toBe('1');
    await page.getByRole('button', { name: 'Re-make renditions' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Rebuild / })
      .waitFor();
    await page.locator('.progress-item', { hasText: 'Rebuild of' }).first().waitFor();
    await expectAccessible('jobs');
    await screenshot('console-jobs');
  });

  it('asks for the jobs only while its tab is shown', async () => {
    const { clocked, requests } = await clockedPage('/console/jobs', (p) => p === '/api/v1/jobs');
    // Headless Chromium shows every tab, so the test hides this one as the browser would: the
    // document says it is hidden and fires visibilitychange.
    const setVisibility = (state: 'hidden' | 'visible') =>
      clocked.evaluate(`
        Object.defineProperty(document, 'visibilityState', { value: '${state}', configurable: true });
        Object.defineProperty(document, 'hidden', { value: ${state === 'hidden'}, configurable: true });
        document.dispatchEvent(new Event('visibilitychange'));
      `);
    const { asked } = requests;
    try {
      await clocked.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
      await eventually(() => asked.length > 0, 'the jobs to be asked for');
      await setVisibility('hidden');
      // A round already due may still go (the timer set while shown fires); none after it, over
      // three more polling periods (2 s).
      await passTime(clocked, requests, 2500, 1);
      const whileHidden = asked.length;
      await passTime(clocked, requests, 2500, 3);
      expect(asked).toHaveLength(whileHidden);
      // Shown again: asked at once, then every two seconds again.
      await setVisibility('visible');
      await eventually(() => asked.length > whileHidden, 'the jobs to be asked for at once');
      // The clock moved on half a period at a time until the next round goes.
      await eventually(async () => {
        await passTime(clocked, requests, 1000, 1);
        return asked.length >= whileHidden + 2;
      }, 'polling to start again');
    } finally {
      requests.stop();
      await clocked.close();
    }
  });

  it('pages through the products: back to the page before, or to the first from an address', async () => {
    const listed = await call(t.app, 'GET', '/api/v1/products?limit=100', admin);
    const have = listed.json<{ items: unknown[] }>().items.length;
    // One more than a page of 24.
    for (let i = have; i < 25; i++) {
      const made = await call(t.app, 'POST', '/api/v1/products', admin, { name: `Paged ${i}` });
      expect(made.statusCode).toBe(201);
    }
    await page.goto(`${base}/console/products`);
    const pages = page.getByRole('navigation', { name: 'Pages of products' });
    await pages.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(/\/console\/products\?cursor=/);
    const second = page.url();
    // Reached by Next: Previous is the tab's way back.
    await pages.getByRole('button', { name: 'Previous page' }).click();
    await page.waitForURL(/\/console\/products$/);
    await pages.getByRole('link', { name: 'Next page' }).waitFor();
    expect(await pages.getByRole('button', { name: 'Previous page' }).count()).toBe(0);

    // The second page opened by its address: no page before it in the tab, so none is offered
    // (going back would leave the console); the first page is.
    await page.goto(second);
    await pages.getByRole('link', { name: 'First page' }).waitFor();
    expect(await pages.getByRole('button', { name: 'Previous page' }).count()).toBe(0);
    await pages.getByRole('link', { name: 'First page' }).click();
    await page.waitForURL(/\/console\/products$/);
    await pages.getByRole('link', { name: 'Next page' }).waitFor();
    await expectAccessible('products, first page');
  });

  it('works on a narrow screen', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${base}/console/products/${productId}`);
    await page.getByRole('heading', { name: 'Blue running shoe', level: 1 }).waitFor();
    await expect(tiles().count()).resolves.toBe(3);
    // Nothing wider than the screen: no sideways scrolling of the page.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await expectAccessible('gallery, narrow');
    await screenshot('console-gallery-narrow');
  });

  it('ends the session when the person logs out, on the service too', async () => {
    const stored = await page.evaluate<string>('sessionStorage.getItem("pis-console-session")');
    const token: Credential = { bearer: JSON.parse(stored).token as string };
    expect((await call(t.app, 'GET', '/api/v1/auth/me', token)).statusCode).toBe(200);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in to the console' }).waitFor();
    expect(await page.evaluate('sessionStorage.getItem("pis-console-session")')).toBeNull();
    // The token the tab held (copied elsewhere, say) no longer works.
    await eventually(
      async () => (await call(t.app, 'GET', '/api/v1/auth/me', token)).statusCode === 401,
      'the logged-out token to be refused',
    );
  });

  it('tells staff once that jobs are for administrators, and stops asking', async () => {
    // The logout ended every session of the administrator, this file's own token too.
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    await addUser(t.app, admin, 'stan', Role.Staff);
    await page.getByLabel('Email or username').fill('stan');
    await page.getByLabel('Password').fill(TEST_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    // The session in a page with a fake clock; this one stays logged in for the next test.
    const { clocked, requests } = await clockedPage('/console/products', () => false);
    await clocked.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    const refused: string[] = [];
    const listener = (response: { url(): string; status(): number }) => {
      if (response.status() === 403) refused.push(response.url());
    };
    clocked.on('response', listener);
    try {
      await clocked
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Jobs' })
        .click();
      await clocked.getByText('Jobs are shown to administrators only.').waitFor();
      expect(refused.length).toBeGreaterThan(0);
      // Three polling periods (2 s each) later, nothing was asked again: each list once. (The
      // notice shows at the first refusal: the round's other answers come after it.)
      await passTime(clocked, requests, 2500, 3);
      expect(refused).toHaveLength(new Set(refused).size);
    } finally {
      clocked.off('response', listener);
      requests.stop();
      await clocked.close();
    }
  });

  it('offers staff the upload, not the import from a URL, which is for administrators', async () => {
    // Still logged in as staff (the test before).
    await page.goto(`${base}/console/products/${productId}`);
    await page.getByRole('heading', { name: 'Blue running shoe', level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'Add images' }).waitFor();
    expect(await page.getByRole('heading', { name: 'Import from a URL' }).count()).toBe(0);
  });
});
