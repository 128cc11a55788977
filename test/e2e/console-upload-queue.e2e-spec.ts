import type { BrowserContext, Page, Route } from 'playwright-core';
import sharp from 'sharp';
import { addUser, TEST_PASSWORD } from '../support/accounts';
import {
  CONSOLE_WAIT_MS,
  startConsoleHarness,
  type ConsoleHarness,
} from '../support/console-harness';
import { eventually } from '../support/eventually';
import { call, login } from '../support/http';
import { Role } from '../../src/auth/roles';
import { TEST_ADMIN } from '../support/test-app';

/**
 * The console's upload queue through a reload, a closed tab and another person's login, in
 * Debian's Chromium: the files a person queued and the service never took are offered to them
 * again (and sent once each), never to anyone else on the browser, and forgotten at their logout.
 */
describe('The console’s upload queue when the page goes', () => {
  let h: ConsoleHarness;
  let context: BrowserContext;
  let productId: string;

  beforeAll(async () => {
    h = await startConsoleHarness();
    await addUser(h.t.app, h.admin, 'stan', Role.Staff);
  });

  afterAll(() => h?.close());

  beforeEach(async () => {
    // One browser profile for the test: its pages share IndexedDB, as a person's tabs do.
    context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const admin = {
      bearer: await login(h.t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
    };
    const created = await call(h.t.app, 'POST', '/api/v1/products', admin, { name: 'Queued' });
    expect(created.statusCode).toBe(201);
    productId = created.json<{ id: string }>().id;
  });

  afterEach(async () => {
    await context?.close();
  });

  const png = (r: number) =>
    sharp({ create: { width: 64, height: 48, channels: 3, background: { r, g: 80, b: 160 } } })
      .png()
      .toBuffer();

  /** A new tab of the browser, `who` logged in, on the product's gallery. */
  async function galleryAs(who: string, password: string): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(CONSOLE_WAIT_MS);
    // A reload while an upload is on its way: the person chooses to leave.
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${h.base}/console/products/${productId}`);
    await page.getByLabel('Email or username').fill(who);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
    return page;
  }

  /** The browser's uploads to the product held on their way until let go; `sent` names them. */
  async function holdUploads() {
    const sent: string[] = [];
    const gates: ((go: boolean) => void)[] = [];
    let open = false;
    let refused = false;
    await context.route(`**/api/v1/products/${productId}/images`, async (route: Route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      const body = route.request().postDataBuffer()?.toString('latin1') ?? '';
      sent.push(/filename="([^"]*)"/.exec(body)?.[1] ?? '');
      const go =
        !refused && (open || (await new Promise<boolean>((resolve) => gates.push(resolve))));
      // Its page may have gone meanwhile, and the request with it.
      await (go ? route.continue() : route.abort()).catch(() => undefined);
    });
    return {
      sent,
      waiting: () => gates.length,
      letAllGo: () => {
        open = true;
        refused = false;
        for (const gate of gates.splice(0)) gate(true);
      },
      /** The connection goes: the uploads held and the next ones never reach the service. */
      refuseAll: () => {
        refused = true;
        for (const gate of gates.splice(0)) gate(false);
      },
    };
  }

  async function choose(page: Page, names: string[]): Promise<void> {
    const files = [];
    for (const [i, name] of names.entries()) {
      files.push({ name, mimeType: 'image/png', buffer: await png(40 * i) });
    }
    await page.locator('#upload-files').setInputFiles(files);
  }

  const stateOf = (page: Page, name: string) =>
    page.locator(`.uploads > li[data-upload="${name}"] .upload-state`);

  /** The rows of the upload panel: each file's name and state, as shown. */
  async function rows(page: Page): Promise<string[][]> {
    const items = await page.locator('.uploads > li').all();
    return Promise.all(
      items.map(async (item) => [
        (await item.locator('.upload-name').textContent()) ?? '',
        (await item.locator('.upload-state').textContent()) ?? '',
      ]),
    );
  }

  async function galleryTitles(): Promise<string[]> {
    // A token of its own: a logout in the console ends the person's others.
    const admin = {
      bearer: await login(h.t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
    };
    const res = await call(h.t.app, 'GET', `/api/v1/products/${productId}/images`, admin);
    return res.json<{ items: { title: string }[] }>().items.map((i) => i.title);
  }

  /** The names of the files the browser keeps for uploads (IndexedDB), whoever queued them. */
  const kept = (page: Page) =>
    page.evaluate<string[]>(`new Promise((resolve, reject) => {
      const open = indexedDB.open('pis-console-uploads');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        if (!db.objectStoreNames.contains('uploads')) return resolve([]), db.close();
        const all = db.transaction('uploads').objectStore('uploads').getAll();
        all.onsuccess = () => resolve(all.result.map((u) => u.file.name).sort());
        db.close();
      };
    })`);

  it('offers the uploads queued before a reload again, and sends each once when retried', async () => {
    const held = await holdUploads();
    const page = await galleryAs(TEST_ADMIN.email, TEST_ADMIN.password);
    await choose(page, ['q1.png', 'q2.png', 'q3.png']);
    await eventually(() => held.waiting() === 1, 'the first upload to be on its way');
    // A click first: Chromium asks before leaving only a page the person has used.
    await page.getByRole('heading', { name: 'Add images' }).click();

    await page.reload();
    await page.getByRole('heading', { name: 'Gallery', level: 2 }).waitFor();
    await stateOf(page, 'q3.png').waitFor();
    expect(await rows(page)).toEqual([
      ['q1.png', 'No answer'],
      ['q2.png', 'Not sent'],
      ['q3.png', 'Not sent'],
    ]);
    await expect(page.getByTestId('uploads-left').textContent()).resolves.toContain(
      '3 files you queued here before the page was left were not stored.',
    );
    expect(held.sent).toEqual(['q1.png']);
    expect(await galleryTitles()).toEqual([]);

    held.letAllGo();
    await page.getByRole('button', { name: 'Retry all 3' }).click();
    for (const name of ['q1.png', 'q2.png', 'q3.png']) {
      await stateOf(page, name).filter({ hasText: 'Uploaded' }).waitFor();
    }
    expect(await galleryTitles()).toEqual(['q1', 'q2', 'q3']);
    await expect(page.getByTestId('uploads-left').count()).resolves.toBe(0);
    // Answered: nothing is kept, and the next page offers nothing.
    expect(await kept(page)).toEqual([]);
    await page.reload();
    await page.locator('.tile-title', { hasText: 'q3' }).waitFor();
    await choose(page, ['after.png']);
    await stateOf(page, 'after.png').filter({ hasText: 'Uploaded' }).waitFor();
    expect(await rows(page)).toEqual([['after.png', 'Uploaded']]);
  });

  it('without Web Locks, does not offer another tab what it is sending, and offers a reloaded page’s', async () => {
    // Plain http on another host than localhost, or an older Safari: no navigator.locks.
    await context.addInitScript('delete Navigator.prototype.locks');
    const held = await holdUploads();
    const sending = await galleryAs(TEST_ADMIN.email, TEST_ADMIN.password);
    await expect(sending.evaluate('navigator.locks')).resolves.toBeUndefined();
    await choose(sending, ['s1.png', 's2.png']);
    await eventually(() => held.waiting() === 1, 'the first upload to be on its way');

    // The same person's second tab: the first one's uploads are its own, not left over.
    const other = await galleryAs(TEST_ADMIN.email, TEST_ADMIN.password);
    await choose(other, ['o1.png']);
    await stateOf(other, 'o1.png').waitFor();
    // The kept files are read as the gallery opens: long done when its own upload is shown.
    await other.waitForTimeout(500);
    expect((await rows(other)).map(([name]) => name)).toEqual(['o1.png']);
    await expect(other.getByTestId('uploads-left').count()).resolves.toBe(0);

    // The first tab reloaded is gone: the next page offers its uploads (and not the open tab's).
    await sending.getByRole('heading', { name: 'Add images' }).click();
    await sending.reload();
    await stateOf(sending, 's2.png').waitFor();
    await sending.waitForTimeout(500);
    expect(await rows(sending)).toEqual([
      ['s1.png', 'No answer'],
      ['s2.png', 'Not sent'],
    ]);
    held.letAllGo();
    await stateOf(other, 'o1.png').filter({ hasText: 'Uploaded' }).waitFor();
  });

  /** Opens the kept uploads' database at `version` in the page: resolves with what happened. */
  const openAt = (page: Page, version: number) =>
    page.evaluate<string>(`new Promise((resolve) => {
      const open = indexedDB.open('pis-console-uploads', ${version});
      const events = [];
      open.onblocked = () => events.push('blocked');
      open.onerror = () => resolve([...events, 'error'].join(' '));
      open.onsuccess = () => {
        window.held = open.result;
        resolve([...events, 'opened'].join(' '));
      };
      setTimeout(() => resolve([...events, 'waiting'].join(' ')), 5000);
    })`);

  it('lets a newer console change the database, and uses it once an older one lets go', async () => {
    const held = await holdUploads();
    // An older console's page (holding the database, deaf to a change) ...
    const older = await context.newPage();
    await older.goto(`${h.base}/health`);
    await expect(openAt(older, 1)).resolves.toBe('opened');
    // ... and a newer one's, which changes it to version 2: its open waits for the older to go.
    await context.addInitScript(`{
      const open = IDBFactory.prototype.open;
      IDBFactory.prototype.open = function (name, version) {
        return open.call(this, name, name === 'pis-console-uploads' && version === 1 ? 2 : version);
      };
    }`);
    const newer = await galleryAs(TEST_ADMIN.email, TEST_ADMIN.password);
    await older.evaluate('window.held.close()');
    await choose(newer, ['n1.png']);
    await eventually(() => held.waiting() === 1, 'the upload to be on its way');
    await eventually(async () => (await kept(newer)).includes('n1.png'), 'the upload kept');

    // This console's page is older than a third's: it lets the database go, and goes on.
    const third = await context.newPage();
    await third.goto(`${h.base}/health`);
    await expect(openAt(third, 3)).resolves.toBe('opened');
    held.letAllGo();
    await stateOf(newer, 'n1.png').filter({ hasText: 'Uploaded' }).waitFor();
  });

  it('offers a person’s kept uploads to them only, forgets them at their logout, and when another person logs in', async () => {
    const held = await holdUploads();
    const first = await galleryAs(TEST_ADMIN.email, TEST_ADMIN.password);
    await choose(first, ['a1.png', 'a2.png']);
    await eventually(() => held.waiting() === 1, 'the first upload to be on its way');
    // The connection goes, then the tab (closed, or crashed): its session goes with it, its kept
    // files stay. (A tab closed with a request held here lets it go on to the service.)
    held.refuseAll();
    await stateOf(first, 'a2.png').filter({ hasText: 'No answer' }).waitFor();
    await first.close();

    // The person logs in again, in another tab: their files are there, and theirs to forget.
    const again = await galleryAs(TEST_ADMIN.email, TEST_ADMIN.password);
    await stateOf(again, 'a2.png').waitFor();
    expect(await rows(again)).toEqual([
      ['a1.png', 'No answer'],
      ['a2.png', 'No answer'],
    ]);
    await again.getByRole('button', { name: 'Log out' }).click();
    await again.getByRole('heading', { name: 'Log in to the console' }).waitFor();
    await eventually(async () => (await kept(again)).length === 0, 'the kept files forgotten');
    await again.close();

    // Files kept again, and the tab gone without a logout: the next person on the browser to log
    // in is not offered them, and they are not left in its storage.
    const third = await galleryAs(TEST_ADMIN.email, TEST_ADMIN.password);
    await choose(third, ['c1.png']);
    await stateOf(third, 'c1.png').filter({ hasText: 'No answer' }).waitFor();
    expect(await kept(third)).toEqual(['c1.png']);
    await third.close();
    held.letAllGo();

    const other = await galleryAs('stan', TEST_PASSWORD);
    await eventually(async () => (await kept(other)).length === 0, "the other's files forgotten");
    await choose(other, ['b1.png']);
    await stateOf(other, 'b1.png').filter({ hasText: 'Uploaded' }).waitFor();
    expect(await rows(other)).toEqual([['b1.png', 'Uploaded']]);
    await expect(other.getByTestId('uploads-left').count()).resolves.toBe(0);
    expect(await galleryTitles()).toEqual(['b1']);
    expect(held.sent).toEqual(['a1.png', 'a2.png', 'c1.png', 'b1.png']);
  });
});
