import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { freePort } from '../support/process';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * A shop's back office on another origin, in Debian's Chromium: with CORS_ORIGINS naming it, its
 * fetch() calls may use every method the API has (the browser sends a preflight for PUT, PATCH and
 * DELETE, and refuses the call unless the preflight allows the method), and a page on an origin
 * not named may not read any answer.
 */
describe('CORS in Chromium', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let browser: Browser;
  let apiOrigin: string;
  const pages: Record<'shop' | 'stranger', { server: Server; url: string }> = {} as never;
  let admin: Credential & { bearer: string };

  /** A server of its own for a page on another origin (another port), as a front end would have. */
  async function pageServer(port: number): Promise<{ server: Server; url: string }> {
    const server = createServer((req, res) => {
      if (req.url !== '/') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head></html>');
    });
    server.listen(port, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return { server, url: `http://127.0.0.1:${port}/` };
  }

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    const [apiPort, shopPort, strangerPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    apiOrigin = `http://127.0.0.1:${apiPort}`;
    const [started, launched] = await Promise.allSettled([
      startTestApp({
        ...backend.env,
        PUBLIC_BASE_URL: apiOrigin,
        CORS_ORIGINS: `http://127.0.0.1:${shopPort}`,
      }),
      launchChromium(),
    ]);
    if (started.status === 'fulfilled') t = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const result of [started, launched]) if (result.status === 'rejected') throw result.reason;
    await t.app.listen({ port: apiPort, host: '127.0.0.1' });
    pages.shop = await pageServer(shopPort);
    pages.stranger = await pageServer(strangerPort);
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await browser?.close();
    for (const page of Object.values(pages)) {
      if (page.server.listening) await new Promise((resolve) => page.server.close(resolve));
    }
    await t?.close();
    await backend?.close();
  });

  /** A product with two images, made through the API. */
  async function productWithTwoImages(): Promise<{ id: string; images: string[] }> {
    const product = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Mug' });
    expect(product.statusCode).toBe(201);
    const id = product.json<{ id: string }>().id;
    const images: string[] = [];
    for (const width of [64, 80]) {
      const form = multipart({}, [
        { filename: `${width}.jpg`, contentType: 'image/jpeg', data: await solidJpeg(width, 64) },
      ]);
      const res = await call(t.app, 'POST', `/api/v1/products/${id}/images`, admin, form.payload, {
        headers: form.headers,
      });
      expect(res.statusCode).toBe(201);
      images.push(res.json<{ id: string }>().id);
    }
    return { id, images };
  }

  interface Call {
    method: string;
    path: string;
    body?: unknown;
  }

  /** Runs `calls` one after the other with fetch() in a page of `origin`; each status or error. */
  async function fetchFrom(origin: 'shop' | 'stranger', calls: Call[]): Promise<string[]> {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(pages[origin].url);
      return await page.evaluate(
        async ({ base, token, calls }) => {
          const results: string[] = [];
          for (const { method, path, body } of calls) {
            try {
              const res = await fetch(base + path, {
                method,
                headers: {
                  authorization: `Bearer ${token}`,
                  ...(body === undefined ? {} : { 'content-type': 'application/json' }),
                },
                body: body === undefined ? undefined : JSON.stringify(body),
              });
              results.push(`${method} ${res.status}`);
            } catch (error) {
              results.push(`${method} ${(error as Error).name}`);
            }
          }
          return results;
        },
        { base: apiOrigin, token: admin.bearer, calls },
      );
    } finally {
      await context.close();
    }
  }

  it("lets the named origin's page GET, POST, PATCH, PUT and DELETE", async () => {
    const { id, images } = await productWithTwoImages();
    const results = await fetchFrom('shop', [
      { method: 'GET', path: `/api/v1/products/${id}` },
      { method: 'PATCH', path: `/api/v1/products/${id}`, body: { name: 'Big mug' } },
      {
        method: 'PUT',
        path: `/api/v1/products/${id}/images/order`,
        body: { image_ids: [...images].reverse() },
      },
      { method: 'DELETE', path: `/api/v1/products/${id}/images/${images[1]}` },
      { method: 'POST', path: '/api/v1/products', body: { name: 'Cup' } },
    ]);
    expect(results).toEqual(['GET 200', 'PATCH 200', 'PUT 200', 'DELETE 204', 'POST 201']);
    // What the calls did, read back past the browser.
    const product = await call(t.app, 'GET', `/api/v1/products/${id}`, admin);
    expect(product.json()).toMatchObject({ name: 'Big mug' });
    const gallery = await call(t.app, 'GET', `/api/v1/products/${id}/images`, admin);
    expect(gallery.json<{ items: { id: string }[] }>().items.map((i) => i.id)).toEqual([images[0]]);
  });

  it("keeps every answer from another origin's page, whose writes are not even sent", async () => {
    const { id, images } = await productWithTwoImages();
    const results = await fetchFrom('stranger', [
      { method: 'GET', path: `/api/v1/products/${id}` },
      { method: 'PATCH', path: `/api/v1/products/${id}`, body: { name: 'Stolen' } },
      { method: 'DELETE', path: `/api/v1/products/${id}/images/${images[1]}` },
    ]);
    expect(results).toEqual(['GET TypeError', 'PATCH TypeError', 'DELETE TypeError']);
    const product = await call(t.app, 'GET', `/api/v1/products/${id}`, admin);
    expect(product.json()).toMatchObject({ name: 'Mug' });
    const gallery = await call(t.app, 'GET', `/api/v1/products/${id}/images`, admin);
    expect(gallery.json<{ items: unknown[] }>().items).toHaveLength(2);
  });
});
