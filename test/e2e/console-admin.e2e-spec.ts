import type { Browser, Page } from 'playwright-core';
import { Role } from '../../src/auth/roles';
import { addUser, TEST_PASSWORD } from '../support/accounts';
import {
  CONSOLE_WAIT_MS,
  loggedInPage,
  startConsoleHarness,
  type ConsoleHarness,
} from '../support/console-harness';
import { eventually } from '../support/eventually';
import { call, login, type Credential } from '../support/http';
import { TEST_ADMIN, type TestApp } from '../support/test-app';
import { expectAccessible as expectAccessibleAt } from '../support/accessibility';
import { screenshotPath } from '../support/browser';

/**
 * The console's API keys and Users pages, in Debian's Chromium: a key's secret shown once, the
 * key working and then revoked; the pages offered only to who holds their scopes; the API's
 * refusals said in its words. As in console.e2e-spec.ts, axe-core must find no serious or
 * critical violation, and a CSP refusal or a page error fails the test.
 */
describe('The console’s API keys and users', () => {
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

  const refused: string[] = [];

  /** `opened`, watched: what the Content-Security-Policy refused, and the page's errors. */
  function watched(opened: Page): Page {
    opened.on('console', (message) => {
      if (/Content.Security.Policy|Refused to/i.test(message.text())) refused.push(message.text());
    });
    opened.on('pageerror', (error) => refused.push(error.message));
    return opened;
  }

  afterEach(async () => {
    await page?.close();
    const seen = refused.splice(0);
    expect(seen).toEqual([]);
  });

  const expectAccessible = (view: string) => expectAccessibleAt(page, view);

  /** What the main navigation offers. */
  const sections = () => page.getByRole('navigation', { name: 'Main' }).getByRole('link');

  /** An API call as curl would make it, with the key. */
  const withKey = (key: string) =>
    fetch(`${base}/api/v1/auth/me`, { headers: { 'x-api-key': key } });

  it('creates a key whose secret is shown once, which works until it is revoked', async () => {
    page = watched(await loggedInPage(browser, base));
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'New API key' }).click();
    await expectAccessible('the new API key form');
    await page.getByLabel('Name').fill('Storefront preview');
    await page.getByLabel('Role').selectOption('user');
    await page.getByRole('button', { name: 'Create key' }).click();

    // The secret, in the copy field, which has the focus; the person told it is shown once.
    // (A textbox: the form is labelled "New API key" too, and is there before the answer.)
    const field = page.getByRole('textbox', { name: 'New API key', exact: true });
    await field.waitFor();
    await eventually(
      () => field.evaluate((input) => input === input.ownerDocument.activeElement),
      'the focus on the new key',
      5_000,
    );
    const secret = await field.inputValue();
    expect(secret).toMatch(/^pis_/);
    await page.getByRole('status').filter({ hasText: 'you will not see it again' }).waitFor();
    // Kept nowhere but in the view: not in storage, nor in the address.
    const kept = await page.evaluate<string>(
      'JSON.stringify([{ ...localStorage }, { ...sessionStorage }, location.href, history.state])',
    );
    expect(kept).not.toContain(secret);
    await expectAccessible('a new API key');

    const me = await withKey(secret);
    expect(me.status).toBe(200);
    await expect(me.json()).resolves.toMatchObject({
      type: 'api_key',
      role: 'user',
      api_key: { name: 'Storefront preview' },
    });

    await page.getByRole('button', { name: 'Done, I have copied it' }).click();
    await expect(field.count()).resolves.toBe(0);
    // Its button gone with it, the focus goes to the view's heading, not to the document.
    await eventually(
      () => page.evaluate<boolean>('document.activeElement?.tagName === "H1"'),
      'the focus on the heading',
      5_000,
    );
    const row = page.locator('tr', { hasText: 'Storefront preview' });
    await expect(row.innerText()).resolves.toContain(secret.split('_')[1]);

    await page.getByRole('button', { name: 'Revoke Storefront preview' }).click();
    await page
      .getByRole('dialog', { name: 'Revoke this API key?' })
      .getByRole('button', { name: 'Revoke key' })
      .click();
    await page.getByRole('status').filter({ hasText: 'Revoked “Storefront preview”' }).waitFor();
    await row.getByText('Revoked').waitFor();
    await expect(withKey(secret).then((r) => r.status)).resolves.toBe(401);

    // Twenty more: the list goes on, a page of twenty at a time as the API pages it.
    for (let n = 1; n <= 20; n++) {
      const res = await call(t.app, 'POST', '/api/v1/api-keys', admin, { name: `Key ${n}` });
      expect(res.statusCode).toBe(201);
    }
    await page.goto(`${base}/console/api-keys`);
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(`${base}/console/api-keys?page=2`);
    await page.locator('tr', { hasText: 'Key 20' }).waitFor();
    await expect(page.locator('tbody tr').count()).resolves.toBe(1);
    await page.getByRole('link', { name: 'Previous page' }).click();
    await page.waitForURL(`${base}/console/api-keys`);
    await page.locator('tr', { hasText: 'Storefront preview' }).waitFor();
  });

  it('creates one key for a double click, and no second when its answer is lost: the key said made, its key not shown', async () => {
    const named = async (name: string) => {
      const res = await call(t.app, 'GET', '/api/v1/api-keys?per_page=100', admin);
      return res
        .json<{ items: { id: string; name: string }[] }>()
        .items.filter((k) => k.name === name);
    };
    // A page of keys at least (the first test made 21): the new ones are on the list's second.
    const { total } = (await call(t.app, 'GET', '/api/v1/api-keys', admin)).json<{
      total: number;
    }>();
    for (let n = total; n < 20; n++) {
      await call(t.app, 'POST', '/api/v1/api-keys', admin, { name: `Older ${n}` });
    }
    page = watched(await loggedInPage(browser, base));
    // The Idempotency-Key of every creation the page sends.
    const sent: (string | undefined)[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url() === `${base}/api/v1/api-keys`) {
        sent.push(request.headers()['idempotency-key']);
      }
    });
    await page.goto(`${base}/console/api-keys`);
    await page.getByRole('button', { name: 'New API key' }).click();
    await page.getByLabel('Name').fill('Clicked twice');
    await page.getByRole('button', { name: 'Create key' }).dblclick();
    // The secret, once the service answered (not the form, which is labelled "New API key" too).
    await page.getByRole('textbox', { name: 'New API key', exact: true }).waitFor();
    await expect(named('Clicked twice')).resolves.toHaveLength(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^[0-9a-f-]{36}$/);
    await page.getByRole('button', { name: 'Done, I have copied it' }).click();

    // The service makes the key; the answers are lost on the way back (a dropped connection).
    let lose = 1;
    await page.route(`${base}/api/v1/api-keys`, async (route) => {
      if (route.request().method() !== 'POST' || lose === 0) return route.fallback();
      lose--;
      await route.fetch();
      await route.abort('connectionreset');
    });
    sent.length = 0;
    await page.getByRole('button', { name: 'New API key' }).click();
    await page.getByLabel('Name').fill('Answer lost');
    await page.getByRole('button', { name: 'Create key' }).click();
    // Sent again by itself with the same key: the service names the key made, not its secret.
    await page
      .getByRole('alert')
      .filter({ hasText: 'The key “Answer lost” was created' })
      .waitFor();
    const made = await named('Answer lost');
    expect(made).toHaveLength(1);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe(sent[0]);
    await expect(
      page.getByRole('textbox', { name: 'New API key', exact: true }).count(),
    ).resolves.toBe(0);
    // Named in the list (its page shown on asking), and offered to be revoked.
    await page.getByRole('link', { name: 'Show it in the list' }).click();
    await page.waitForURL(`${base}/console/api-keys?page=2`);
    await page.locator(`tr[data-api-key="${made[0].id}"]`).getByText('Key not shown').waitFor();
    await expectAccessible('an API key whose key was lost');
    await page.getByRole('button', { name: 'Revoke it' }).click();
    await page
      .getByRole('dialog', { name: 'Revoke this API key?' })
      .getByRole('button', { name: 'Revoke key' })
      .click();
    await page.getByRole('status').filter({ hasText: 'Revoked “Answer lost”' }).waitFor();
    const revoked = await call(t.app, 'GET', `/api/v1/api-keys/${made[0].id}`, admin);
    expect(revoked.json<{ revoked_at: string | null }>().revoked_at).not.toBeNull();

    // Both answers lost: the person is told it may have been made, and pressing Create key again
    // (the same fields, the same key) is told it was, once.
    lose = 2;
    sent.length = 0;
    await page.getByRole('button', { name: 'New API key' }).click();
    await page.getByLabel('Name').fill('Answers lost');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'the key “Answers lost” may have been created' })
      .waitFor();
    await page.getByRole('button', { name: 'Create key' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'The key “Answers lost” was created' })
      .waitFor();
    await expect(named('Answers lost')).resolves.toHaveLength(1);
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(1);
    // The next creation is a new one, under a new key.
    await page.getByRole('button', { name: 'New API key' }).click();
    await page.getByLabel('Name').fill('Answers lost');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('textbox', { name: 'New API key', exact: true }).waitFor();
    expect(sent).toHaveLength(4);
    expect(sent[3]).not.toBe(sent[0]);
  });

  it('offers neither page to a user, and says the API’s refusal at their address', async () => {
    await addUser(t.app, admin, 'viewer', Role.User);
    page = watched(await browser.newPage({ viewport: { width: 1280, height: 900 } }));
    page.setDefaultTimeout(CONSOLE_WAIT_MS);
    await page.goto(`${base}/console`);
    await page.getByLabel('Email or username').fill('viewer');
    await page.getByLabel('Password').fill(TEST_PASSWORD);
    const me = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/me'));
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    expect((await me).status()).toBe(200);
    // Once the service said who they are, the sections are theirs.
    await eventually(
      () =>
        page.evaluate<boolean>(
          'sessionStorage.getItem("pis-console-session")?.includes(\'"scopes"\') === true',
        ),
      'the session’s scopes read',
    );
    await expect(sections().allInnerTexts()).resolves.toEqual(['Products', 'Assets', 'Jobs']);

    await page.goto(`${base}/console/api-keys`);
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'Not allowed.' }).waitFor();
  });

  /** A new page at `path`, `username` logged in through the form there. */
  async function loggedInAt(path: string, username: string, password: string): Promise<Page> {
    const opened = watched(await browser.newPage({ viewport: { width: 1280, height: 900 } }));
    opened.setDefaultTimeout(CONSOLE_WAIT_MS);
    await opened.goto(`${base}/console${path}`);
    await opened.getByLabel('Email or username').fill(username);
    await opened.getByLabel('Password').fill(password);
    await opened.getByRole('button', { name: 'Log in' }).click();
    return opened;
  }

  it('says a refused read (403) is the account’s want of a permission, and reads again once given it', async () => {
    const viewer = await addUser(t.app, admin, 'refused-viewer', Role.User);
    const me = await call(t.app, 'GET', '/api/v1/auth/me', viewer);
    const id = me.json<{ user: { id: string } }>().user.id;
    page = await loggedInAt('/users', 'refused-viewer', TEST_PASSWORD);
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'Not allowed.' }).waitFor();
    await expect(page.locator('.read-error').innerText()).resolves.toContain(
      'Your account, refused-viewer, lacks the permission',
    );
    await expectAccessible('a refused read');
    await page.screenshot({ path: screenshotPath('console-refused-read'), fullPage: true });
    // An administrator gives them the role meanwhile: "Try again" reads the page.
    const promoted = await call(t.app, 'PATCH', `/api/v1/users/${id}`, admin, { role: 'admin' });
    expect(promoted.statusCode).toBe(200);
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.locator('tr[data-user="refused-viewer"]').waitFor();
    await expect(page.getByRole('alert').filter({ hasText: 'Not allowed.' }).count()).resolves.toBe(
      0,
    );
  });

  it('offers to log in as someone else at a refused read, and opens the same page for them', async () => {
    await addUser(t.app, admin, 'other-viewer', Role.User);
    page = await loggedInAt('/api-keys', 'other-viewer', TEST_PASSWORD);
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'Not allowed.' }).waitFor();
    await page.getByRole('button', { name: 'Log in as someone else' }).click();
    await page.getByRole('heading', { name: 'Log in to the console', level: 1 }).waitFor();
    await page.getByLabel('Email or username').fill(TEST_ADMIN.email);
    await page.getByLabel('Password').fill(TEST_ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await page
      .getByRole('region', { name: 'API keys' })
      .or(page.getByText('No API keys yet'))
      .first()
      .waitFor();
    expect(new URL(page.url()).pathname).toBe('/console/api-keys');
    await expect(page.getByRole('alert').filter({ hasText: 'Not allowed.' }).count()).resolves.toBe(
      0,
    );
  });

  it('creates a user, changes their role, and says the API’s refusal in its words', async () => {
    page = watched(await loggedInPage(browser, base));
    // Offered once the service said the session's scopes (read after the login).
    await sections().filter({ hasText: 'Users' }).waitFor();
    await expect(sections().allInnerTexts()).resolves.toEqual([
      'Products',
      'Assets',
      'Jobs',
      'API keys',
      'Users',
    ]);
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();

    const create = async (email: string, username: string) => {
      await page.getByRole('button', { name: 'New user' }).click();
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Full name (optional)').fill('Dana Scully');
      await page.getByLabel('Role', { exact: true }).selectOption('user');
      await page.getByLabel('Password').fill(TEST_PASSWORD);
      await page.getByRole('button', { name: 'Create user' }).click();
    };
    await create('dana@test.example', 'dana');
    await page.getByRole('status').filter({ hasText: 'Created the user “dana”.' }).waitFor();
    const row = page.locator('tr[data-user="dana"]');
    await expect(row.innerText()).resolves.toContain('dana@test.example');

    // A password generated for the admin to copy: strong, shown, and the one the user gets.
    await page.getByRole('button', { name: 'New user' }).click();
    await page.getByRole('button', { name: 'Generate a password' }).click();
    const password = page.getByLabel('Password');
    const generated = await password.inputValue();
    expect(generated).toMatch(/^[A-Za-z0-9]{20}$/);
    await expect(password.getAttribute('type')).resolves.toBe('text');
    await page.getByRole('button', { name: 'Generate a password' }).click();
    await expect(password.inputValue()).resolves.not.toBe(generated);
    const chosen = await password.inputValue();
    await page.getByLabel('Email').fill('fox@test.example');
    await page.getByLabel('Username').fill('fox');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').filter({ hasText: 'Created the user “fox”.' }).waitFor();
    await expect(login(t.app, { username: 'fox' }, chosen)).resolves.toBeTruthy();

    // The same username again: the service's conflict, in its words, the form kept.
    await create('dana.other@test.example', 'dana');
    await page
      .getByRole('alert')
      .filter({ hasText: 'A user with this username already exists.' })
      .waitFor();
    await expect(page.getByLabel('Email').inputValue()).resolves.toBe('dana.other@test.example');
    await expectAccessible('the users, the new user form');
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page.getByLabel('Role of dana').selectOption('staff');
    await page.getByRole('button', { name: 'Save the role of dana' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'The role of “dana” is now staff.' })
      .waitFor();
    const users = await call(t.app, 'GET', '/api/v1/users?per_page=100', admin);
    const dana = users.json<{ items: { username: string; role: string }[] }>().items;
    expect(dana.find((u) => u.username === 'dana')?.role).toBe('staff');

    // The signed-in admin demoting themselves: refused, in the service's words.
    const self = await page
      .locator('tr', { hasText: 'admin@test.example' })
      .getAttribute('data-user');
    await page.getByLabel(`Role of ${self}`).selectOption('user');
    await page.getByRole('button', { name: `Save the role of ${self}` }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'You cannot disable or demote your own account.' })
      .waitFor();
  });
});
