import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium, screenshotPath } from '../support/browser';
import { CONSOLE_WAIT_MS } from '../support/console-harness';
import { call, login } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * Swagger UI as a person uses it, in Debian's Chromium: authorise, open the upload operation,
 * "Try it out", choose a file, execute, and read the 201 on the page; once with a JWT from login,
 * once with an API key.
 */
describe('Swagger UI in a real browser', () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let page: Page;
  let dir: string;
  let png: string;
  let token: string;
  let apiKey: string;
  let productId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pis-swagger-ui-'));
    png = join(dir, 'front.png');
    writeFileSync(
      png,
      await sharp({
        create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 60, b: 30 } },
      })
        .png()
        .toBuffer(),
    );
    // Both settle before either failure is thrown, so afterAll closes whichever did start.
    const [started, launched] = await Promise.allSettled([startTestApp(), launchChromium()]);
    if (started.status === 'fulfilled') t = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const result of [started, launched]) if (result.status === 'rejected') throw result.reason;
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as { port: number }).port}`;

    token = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    const product = await call(
      t.app,
      'POST',
      '/api/v1/products',
      { bearer: token },
      {
        name: 'Swagger UI product',
      },
    );
    expect(product.statusCode).toBe(201);
    productId = product.json<{ id: string }>().id;
    const key = await call(
      t.app,
      'POST',
      '/api/v1/api-keys',
      { bearer: token },
      {
        name: 'Swagger UI',
        role: 'staff',
      },
    );
    expect(key.statusCode).toBe(201);
    apiKey = key.json<{ key: string }>().key;

    page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    // The console's browser tests' wait: about 1.5 s here idle, but a loaded CI run once took
    // more than 10 s to load the page (its 1.4 MB script) and render the document.
    page.setDefaultTimeout(CONSOLE_WAIT_MS);
    page.setDefaultNavigationTimeout(CONSOLE_WAIT_MS);
    await page.goto(`${base}/docs`);
    await page.locator('#operations-images-uploadProductImage').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The Authorize dialog's section of one security scheme. */
  function scheme(name: string): Locator {
    return page
      .locator('.dialog-ux .auth-container')
      .filter({ has: page.locator('h4', { hasText: new RegExp(`^\\s*${name}\\b`) }) });
  }

  /** The page's own Authorize button (not the ones inside the dialog). */
  function authorizeButton(): Locator {
    return page.locator('.scheme-container button.authorize:not(.modal-btn)');
  }

  async function authorise(name: string, value: string): Promise<void> {
    await authorizeButton().click();
    const section = scheme(name);
    await section.locator('input').fill(value);
    await section.locator('button.modal-btn.authorize').click();
    await section.locator('button', { hasText: 'Logout' }).waitFor();
    await closeDialog();
  }

  async function closeDialog(): Promise<void> {
    await page.locator('.dialog-ux button.btn-done').first().click();
    await page.locator('.dialog-ux').waitFor({ state: 'detached' });
  }

  async function logout(name: string): Promise<void> {
    await authorizeButton().click();
    await scheme(name).locator('button', { hasText: 'Logout' }).click();
    await closeDialog();
  }

  /** Runs the upload operation from the page and returns the status and body it shows. */
  async function uploadThroughUi(): Promise<{ status: string; body: string; curl: string }> {
    const operation = page.locator('#operations-images-uploadProductImage');
    if (!(await operation.locator('button.try-out__btn.cancel').isVisible())) {
      if (!(await operation.locator('button.try-out__btn').isVisible())) {
        await operation.locator('.opblock-summary-control').click();
      }
      await operation.locator('button.try-out__btn').click();
    }
    // A previous execution's response would otherwise be read as this one's.
    const clear = operation.locator('button.btn-clear');
    if (await clear.isVisible()) await clear.click();
    await operation.locator('.live-responses-table').waitFor({ state: 'detached' });
    await operation.locator('tr[data-param-name="productId"] input').fill(productId);
    await operation.locator('input[type="file"]').setInputFiles(png);
    await operation.locator('button.execute').click();
    const live = operation.locator('.live-responses-table .response').first();
    await live.waitFor();
    return {
      status: (await live.locator('.response-col_status').innerText()).trim(),
      body: await live.locator('.response-col_description pre').first().innerText(),
      curl: await operation.locator('.curl-command').innerText(),
    };
  }

  it('uploads an image with a JWT from login', async () => {
    await authorise('bearer', token);
    const result = await uploadThroughUi();
    await page
      .locator('#operations-images-uploadProductImage')
      .screenshot({ path: screenshotPath('swagger-ui-upload-bearer') });
    expect(result.status).toBe('201');
    expect(result.curl).toContain('Authorization: Bearer');
    expect(JSON.parse(result.body)).toMatchObject({
      product_id: productId,
      original_filename: 'front.png',
      width: 64,
      height: 48,
    });
    await logout('bearer');
  });

  it('uploads an image with an API key', async () => {
    await authorise('api_key', apiKey);
    const result = await uploadThroughUi();
    await page
      .locator('#operations-images-uploadProductImage')
      .screenshot({ path: screenshotPath('swagger-ui-upload-api-key') });
    expect(result.status).toBe('201');
    expect(result.curl).toContain(`X-API-Key: ${apiKey}`);
    expect(result.curl).not.toContain('Bearer');
    expect(JSON.parse(result.body)).toMatchObject({ product_id: productId, is_primary: false });
    const gallery = await call(t.app, 'GET', `/api/v1/products/${productId}/images`, {
      bearer: token,
    });
    expect(gallery.json<{ items: unknown[] }>().items).toHaveLength(2);
    await logout('api_key');
  });

  it('keeps no credential it is given in the browser’s storage, where it would outlive the tab', async () => {
    await authorise('api_key', apiKey);
    const stored = await page.evaluate<string>('JSON.stringify(localStorage)');
    await logout('api_key');
    // Persisted, the key stayed on a shared computer after the browser closed, readable by any
    // page of the origin (the console's too), until someone pressed Logout in Swagger UI.
    expect(stored).not.toContain(apiKey);
  });

  it('runs no script injected into the page: its policy allows the bundle files only', async () => {
    // What an HTML injection into Swagger UI (a spec's Markdown, a response it renders) would
    // add: an inline script and an inline event handler. Swagger UI itself needs neither.
    const ran = await page.evaluate<{ script: boolean; handler: boolean }>(`(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.__injectedScriptRan = true';
      document.head.append(script);
      const holder = document.createElement('div');
      holder.innerHTML = '<img src="data:," onerror="window.__injectedHandlerRan = true">';
      document.body.append(holder);
      await new Promise((resolve) => setTimeout(resolve, 500));
      holder.remove();
      script.remove();
      return {
        script: window.__injectedScriptRan ?? false,
        handler: window.__injectedHandlerRan ?? false,
      };
    })()`);
    expect(ran).toEqual({ script: false, handler: false });
  });

  it('sends no placeholder text from the untouched upload form', async () => {
    await authorise('bearer', token);
    const result = await uploadThroughUi();
    await logout('bearer');
    expect({ status: result.status, curl: result.curl }).toMatchObject({ status: '201' });
    // Swagger UI fills a text field that has no example with "string": the image was stored with
    // the alt text "string".
    expect(result.curl).not.toMatch(/=string\b/);
    expect(JSON.parse(result.body)).toMatchObject({
      title: 'Front of package',
      alt_text: 'A blue running shoe, seen from the side',
    });
  });
});
