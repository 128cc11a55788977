import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { noisyPng } from '../support/fixtures';
import { childProcesses } from '../support/process';
import { call, login } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN } from '../support/test-app';

describe('Image processing under load', () => {
  it('processes one image at a time with no queue: the rest get 503 server_busy with Retry-After', async () => {
    const t = await startTestApp({
      IMAGE_PROCESSING_CONCURRENCY: '1',
      IMAGE_PROCESSING_QUEUE_LIMIT: '0',
    });
    try {
      const admin = {
        bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
      };
      const product = (
        await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Busy' })
      ).json();
      const png = await noisyPng(600, 600);
      const responses = await Promise.all(
        Array.from({ length: 6 }, () => {
          const body = multipart({}, [{ data: png, contentType: 'image/png' }]);
          return call(t.app, 'POST', `/api/v1/products/${product.id}/images`, admin, body.payload, {
            headers: body.headers,
          });
        }),
      );
      const statuses = responses.map((r) => r.statusCode);
      expect(statuses).toContain(201);
      expect(statuses).toContain(503);
      expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
      for (const busy of responses.filter((r) => r.statusCode === 503)) {
        expect(busy.json().code).toBe('server_busy');
        expect(busy.headers['retry-after']).toBe('5');
      }
      // Only the accepted uploads left rows and files; no temporary file remains.
      const listed = (await call(t.app, 'GET', `/api/v1/products/${product.id}`, admin)).json();
      expect(listed.image_count).toBe(statuses.filter((s) => s === 201).length);
      await new Promise((r) => setTimeout(r, 50));
      expect(filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'))).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('stops an SVG that renders too long: 400 image_too_complex, and the slot serves the next upload', async () => {
    const t = await startTestApp({
      IMAGE_PROCESSING_CONCURRENCY: '1',
      SVG_RENDER_TIMEOUT_MS: '1000',
    });
    try {
      const admin = {
        bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
      };
      const product = (
        await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Slow' })
      ).json();
      const upload = (data: Buffer, contentType: string) => {
        const body = multipart({}, [{ data, contentType }]);
        return call(t.app, 'POST', `/api/v1/products/${product.id}/images`, admin, body.payload, {
          headers: body.headers,
        });
      };
      // 40,000 characters on one line: about 100 s of librsvg's time, were it not stopped.
      const slow = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="100">' +
          `<text y="20">${'x'.repeat(40_000)}</text></svg>`,
      );

      const refused = await upload(slow, 'image/svg+xml');
      expect(refused.statusCode).toBe(400);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.json()).toMatchObject({
        code: 'image_too_complex',
        detail: 'The SVG takes longer than 1 s to render.',
        errors: [{ field: 'image', message: 'takes longer than 1 s to render' }],
      });
      const accepted = await upload(await noisyPng(64, 64), 'image/png');
      expect(accepted.statusCode).toBe(201);

      // The refused SVG left no row, no stored file and no temporary file.
      const listed = (await call(t.app, 'GET', `/api/v1/products/${product.id}`, admin)).json();
      expect(listed.image_count).toBe(1);
      const stored = filesBelow(join(t.db.env.DATA_DIR, 'media'));
      expect(stored.filter((f) => /\/original\.[a-z]+$/.test(f))).toEqual([
        expect.stringMatching(/original\.png$/),
      ]);
      expect(filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'))).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it("ends an SVG upload's render at once when its client leaves, leaving no process and no file", async () => {
    const t = await startTestApp({ SVG_RENDER_TIMEOUT_MS: '30000' });
    try {
      const bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
      const product = (
        await call(t.app, 'POST', '/api/v1/products', { bearer }, { name: 'Left' })
      ).json();
      await t.app.listen({ port: 41210, host: '127.0.0.1' });
      // 40,000 characters on one line: about 100 s of librsvg's time, its deadline 30 s.
      const slow = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="100">' +
          `<text y="20">${'x'.repeat(40_000)}</text></svg>`,
      );
      const body = multipart({}, [{ data: slow, contentType: 'image/svg+xml' }]);
      const sent = httpRequest({
        host: '127.0.0.1',
        port: 41210,
        method: 'POST',
        path: `/api/v1/products/${product.id}/images`,
        headers: { ...body.headers, authorization: `Bearer ${bearer}` },
      });
      sent.on('error', () => undefined);
      sent.end(body.payload);
      const renders = () => childProcesses(process.pid, 'svg-render.child.cjs');
      await eventually(() => renders().length > 0, 'the render to start', 20_000);
      sent.destroy();
      // Before, the render ran on to its deadline (30 s) for nobody, holding its slot.
      await eventually(() => renders().length === 0, 'the render to be ended', 3_000);
      await eventually(
        () => filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads')).length === 0,
        'the spooled upload to be removed',
        3_000,
      );
      const listed = (
        await call(t.app, 'GET', `/api/v1/products/${product.id}`, { bearer })
      ).json();
      expect(listed.image_count).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('refuses an SVG of more than 100,000 elements and attributes, or drawing more than 500,000 through <use>, before parsing or rendering it: 400 image_too_complex', async () => {
    // The render's time is not what is tested here: 99,996 <g/> were refused 400 once under a load
    // average of 20 (a render past its timeout is the one refusal of this path that depends on
    // the machine's speed; the answer was not recorded, and is now, below).
    const t = await startTestApp({ SVG_RENDER_TIMEOUT_MS: '30000' });
    try {
      const admin = {
        bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
      };
      const product = (
        await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Crowded' })
      ).json();
      const upload = (data: Buffer) => {
        const body = multipart({}, [{ data, contentType: 'image/svg+xml' }]);
        return call(t.app, 'POST', `/api/v1/products/${product.id}/images`, admin, body.payload, {
          headers: body.headers,
        });
      };
      // The sanitiser holds the whole tree, parsed on the event loop: 3.9 million <g/> (15.6 MB,
      // under MAX_UPLOAD_BYTES) took the process to 4.2 GB, its heap's limit, and stopped every
      // other request for 41 s. The root and its 3 attributes are 4 of the 100,000.
      const svg = (elements: number) =>
        Buffer.from(
          `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">${'<g/>'.repeat(elements)}</svg>`,
        );

      const refused = await upload(svg(99_997));
      expect(refused.statusCode).toBe(400);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.json()).toMatchObject({
        code: 'image_too_complex',
        detail: 'The SVG has more than 100000 elements and attributes.',
        errors: [{ field: 'image', message: 'more than 100000 elements and attributes' }],
      });
      const accepted = await upload(svg(99_996));
      expect({
        status: accepted.statusCode,
        body: accepted.statusCode === 201 || accepted.json(),
      }).toEqual({ status: 201, body: true });

      // 1.8 KB drawing 10^8 elements through nested <use>: librsvg gave up after some 4 s of CPU
      // and the answer said the file was corrupt (400 invalid_image). Counted before rendering.
      const levels = Array.from(
        { length: 8 },
        (_, i) => `<g id="a${i + 1}">${`<use href="#a${i}"/>`.repeat(10)}</g>`,
      ).join('');
      const bomb = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><defs>' +
          `<g id="a0"><rect width="1" height="1"/></g>${levels}</defs><use href="#a8"/></svg>`,
      );
      const uses = await upload(bomb);
      expect(uses.statusCode).toBe(400);
      expect(uses.json()).toMatchObject({
        code: 'image_too_complex',
        detail: 'The SVG draws more than 500000 elements through its <use> references.',
      });

      const listed = (await call(t.app, 'GET', `/api/v1/products/${product.id}`, admin)).json();
      expect(listed.image_count).toBe(1);
      expect(filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'))).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it("refuses an SVG whose check outgrows the sanitiser's heap in one piece: 400 image_too_complex, and the service goes on", async () => {
    const t = await startTestApp();
    try {
      const admin = {
        bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
      };
      const product = (
        await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Escaped' })
      ).json();
      // 14 MiB of '>' in one text (3 elements and attributes, within every limit): written back
      // as '&gt;', four times the bytes, in one string. Checked in a worker thread, its heap
      // outgrown in one allocation, it killed the whole service ("FATAL ERROR: Reached heap
      // limit"), every upload and request in flight with it.
      const escaped = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' +
          `<text>${'>'.repeat(14 * 1024 ** 2)}</text></svg>`,
      );
      const body = multipart({}, [{ data: escaped, contentType: 'image/svg+xml' }]);

      const refused = await call(
        t.app,
        'POST',
        `/api/v1/products/${product.id}/images`,
        admin,
        body.payload,
        { headers: body.headers },
      );

      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toMatchObject({
        code: 'image_too_complex',
        detail: 'The SVG takes more than 256 MiB of memory to check.',
      });
      expect((await call(t.app, 'GET', '/health')).statusCode).toBe(200);
      expect(filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'))).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
