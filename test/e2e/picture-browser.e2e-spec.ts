import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Browser, Response } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium, screenshotPath } from '../support/browser';
import { prng } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { freePort, ROOT } from '../support/process';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * The README's `<picture>` example (between its picture-example markers) filled from a real API
 * response and rendered in Debian's Chromium at several viewports and pixel ratios: from the
 * network log, the browser fetches one image, the AVIF of the srcset at the width its slot needs
 * on that screen, and shows it. So the example, the srcsets and `sizes` work together in a real
 * browser, not only in our reading of the HTML standard.
 */
const ALT_TEXT = 'Front of the "Bench & Co" <mug>';

interface Card {
  width: number;
  height: number;
  src: string;
  type: string;
  srcset: { avif: string; webp: string; fallback: string };
}

interface Candidate {
  url: string;
  width: number;
}

/** What the page functions use of an `<img>` (the project's types leave out the DOM library). */
interface PageImage {
  complete: boolean;
  naturalWidth: number;
  currentSrc: string;
  addEventListener(type: 'load' | 'error', listener: () => void, options: { once: true }): void;
}

/** In the page: once the image has loaded (or failed to), its URL and its decoded pixels' width. */
async function shownImage(img: PageImage): Promise<{ currentSrc: string; decodedWidth: number }> {
  if (!(img.complete && img.naturalWidth > 0)) {
    await new Promise<void>((resolve) => {
      img.addEventListener('load', resolve, { once: true });
      img.addEventListener('error', resolve, { once: true });
    });
  }
  // The decoded pixels: naturalWidth is in CSS pixels (the candidate's width over its density).
  const { createImageBitmap } = globalThis as unknown as {
    createImageBitmap(image: PageImage): Promise<{ width: number }>;
  };
  const bitmap = await createImageBitmap(img);
  return { currentSrc: img.currentSrc, decodedWidth: bitmap.width };
}

/** The HTML of the README's ```html block between its picture-example markers. */
function readmePictureExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const marked = /<!-- picture-example:start[^>]*-->([\s\S]*?)<!-- picture-example:end -->/.exec(
    readme,
  )?.[1];
  const html = marked && /^```html\n([\s\S]*?)^```$/m.exec(marked)?.[1];
  if (!html) throw new Error('README.md has no ```html block between the picture-example markers');
  return html;
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/** `{{card.srcset.avif}}`, `{{alt_text}}`…: a template engine's work, each value HTML-escaped. */
function fillTemplate(template: string, values: Record<string, unknown>): string {
  return template.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, path: string) => {
    const value = path
      .split('.')
      .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], values);
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new Error(`the README example names {{${path}}}, which the API response lacks`);
    }
    return escapeHtml(String(value));
  });
}

/** `url 512w, url 800w` → candidates (the URLs hold commas, never a comma followed by a space). */
function parseSrcset(srcset: string): Candidate[] {
  return srcset.split(/,\s+/).map((entry) => {
    const [url, descriptor] = entry.trim().split(/\s+/);
    expect(descriptor).toMatch(/^\d+w$/);
    return { url, width: Number.parseInt(descriptor, 10) };
  });
}

/**
 * The candidate a browser takes: the smallest at least as wide as the slot `sizes` gives at this
 * viewport (100vw up to 540 px, else 512 px) times the pixel ratio, else the widest there is.
 * (On a screen above 1×, Chromium takes the narrower neighbour when the ratio is below the
 * geometric mean of the two candidates' densities; for these srcsets that agrees.)
 */
function expectedCandidate(candidates: Candidate[], viewport: number, dpr: number): Candidate {
  const needed = (viewport <= 540 ? viewport : 512) * dpr;
  const sorted = [...candidates].sort((a, b) => a.width - b.width);
  return sorted.find((c) => c.width >= needed) ?? sorted[sorted.length - 1];
}

/** A photo-like 1600×1200 JPEG: smooth colour areas (a small random image enlarged). */
async function photoJpeg(): Promise<Buffer> {
  const next = prng(1912);
  const small = Buffer.from(Array.from({ length: 16 * 12 * 3 }, () => Math.floor(next() * 256)));
  return sharp(small, { raw: { width: 16, height: 12, channels: 3 } })
    .resize(1600, 1200, { kernel: 'cubic' })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** The photo uploaded to a new product with ALT_TEXT, and the image as the API then answers it. */
async function uploadPhoto(t: TestApp): Promise<{ alt_text: string; responsive: { card: Card } }> {
  const admin: Credential = {
    bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
  };
  const product = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Mug' });
  expect(product.statusCode).toBe(201);
  const body = multipart({ alt_text: ALT_TEXT }, [
    { data: await photoJpeg(), contentType: 'image/jpeg', filename: 'front.jpg' },
  ]);
  const productPath = `/api/v1/products/${product.json().id}/images`;
  const upload = await call(t.app, 'POST', productPath, admin, body.payload, {
    headers: body.headers,
  });
  expect(upload.statusCode).toBe(201);
  const image = await call(t.app, 'GET', `${productPath}/${upload.json().id}`, admin);
  expect(image.statusCode).toBe(200);
  return image.json();
}

describe('The README <picture> example in Chromium', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let browser: Browser;
  let pageServer: Server;
  let pageUrl: string;
  let origin: string;
  let card: Card;

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    // Both settle before either failure is thrown, so afterAll closes whichever did start.
    const [started, launched] = await Promise.allSettled([
      startTestApp({ ...backend.env, PUBLIC_BASE_URL: origin }),
      launchChromium(),
    ]);
    if (started.status === 'fulfilled') t = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const result of [started, launched]) if (result.status === 'rejected') throw result.reason;
    // The srcsets name PUBLIC_BASE_URL: the app listens there, so Chromium fetches from it.
    await t.app.listen({ port, host: '127.0.0.1' });

    const uploaded = await uploadPhoto(t);
    card = uploaded.responsive.card;
    const html = fillTemplate(readmePictureExample(), {
      card,
      alt_text: uploaded.alt_text,
    });
    // The page comes from a server of its own, as a shop's front end would serve it.
    pageServer = createServer((req, res) => {
      if (req.url !== '/') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><html><head><meta charset="utf-8"><title>Mug</title>` +
          `<style>body { margin: 0 } img { max-width: 100%; height: auto }</style>` +
          `</head><body>${html}</body></html>`,
      );
    });
    pageServer.listen(0, '127.0.0.1');
    await new Promise((resolve) => pageServer.once('listening', resolve));
    pageUrl = `http://127.0.0.1:${(pageServer.address() as { port: number }).port}/`;
  });

  afterAll(async () => {
    await browser?.close();
    if (pageServer?.listening) await new Promise((resolve) => pageServer.close(resolve));
    await t?.close();
    await backend?.close();
  });

  it('fills the example from the API response: a srcset per format, the alt text escaped', () => {
    const avif = parseSrcset(card.srcset.avif);
    expect(avif.length).toBeGreaterThan(1);
    for (const candidate of avif) {
      expect(candidate.url.startsWith(`${origin}/transform/`)).toBe(true);
      expect(candidate.url).toContain('f_avif');
    }
    expect(fillTemplate('alt="{{alt_text}}"', { alt_text: ALT_TEXT })).toBe(
      'alt="Front of the &quot;Bench &amp; Co&quot; &lt;mug&gt;"',
    );
  });

  it.each([
    { viewport: 1280, dpr: 1 },
    { viewport: 1280, dpr: 2 },
    { viewport: 400, dpr: 1 },
  ])(
    'at a $viewport px wide viewport and a pixel ratio of $dpr, fetches the AVIF its slot needs',
    async ({ viewport, dpr }) => {
      const expected = expectedCandidate(parseSrcset(card.srcset.avif), viewport, dpr);
      // A context of its own: no image cached from another case.
      const context = await browser.newContext({
        viewport: { width: viewport, height: 800 },
        deviceScaleFactor: dpr,
      });
      try {
        const page = await context.newPage();
        page.setDefaultTimeout(30_000);
        const images: string[] = [];
        const responses: Response[] = [];
        page.on('request', (request) => {
          if (request.resourceType() === 'image') images.push(request.url());
        });
        page.on('response', (response) => {
          if (response.request().resourceType() === 'image') responses.push(response);
        });
        await page.goto(pageUrl);
        // loading="lazy": the picture is at the top of the page, in the viewport, so it loads.
        const shown = await page.locator('img').evaluate(shownImage);
        await page.screenshot({ path: screenshotPath(`picture-avif-${viewport}px-dpr${dpr}`) });

        expect(images).toEqual([expected.url]);
        expect(expected.url).toContain('f_avif');
        expect(responses).toHaveLength(1);
        expect(responses[0].status()).toBe(200);
        expect(responses[0].headers()['content-type']).toBe('image/avif');
        const fetched = await sharp(await responses[0].body()).metadata();
        expect(fetched).toMatchObject({ format: 'heif', width: expected.width });
        expect(shown).toEqual({ currentSrc: expected.url, decodedWidth: expected.width });
        // The escaped alt text reads in the page as it was uploaded.
        expect(await page.locator('img').getAttribute('alt')).toBe(ALT_TEXT);
      } finally {
        await context.close();
      }
    },
  );
});
