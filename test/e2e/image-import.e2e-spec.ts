import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { lookup } from 'node:dns/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { Role, Scope } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { filesBelow, addUser, otherOrganisationAdmin } from '../support/accounts';
import { htmlBytes, noisyPng, pngOfSize, solidJpeg } from '../support/fixtures';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { authHeaders, call, login, type Credential } from '../support/http';
import { connects, guardedConnect } from '../support/loopback-guard';
import { multipart } from '../support/multipart';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * PUT /api/v1/products/:id/image (the Ocha API): an image from a data URI or a URL, through the whole
 * application. URLs point at servers on loopback: an "image server" the test allows explicitly
 * (IMPORT_ALLOWED_PRIVATE_ORIGINS, the test-only allowance), and a "target" that stands for
 * everything the service must never reach; its counters prove that no refused URL got there.
 * A guard on net.Socket#connect fails any connection that would leave the machine.
 */

const MAX_UPLOAD_BYTES = 400 * 1024;
const JSON_BODY_LIMIT_BYTES = 64 * 1024;

interface Server {
  origin: string;
  port: number;
  /** Requests (HTTP servers) or connections (the raw target) seen. */
  hits: string[];
  close(): Promise<void>;
}

async function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

function closer(server: net.Server): () => Promise<void> {
  return async () => {
    if (server instanceof http.Server) server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** A TCP server counting connections, on IPv4 and IPv6 loopback at the same port if it can. */
async function startTarget(): Promise<Server & { v6: boolean }> {
  const hits: string[] = [];
  const onConnection = (socket: net.Socket) => {
    hits.push(socket.remoteAddress ?? '?');
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 0\r\n\r\n');
  };
  const v4 = net.createServer(onConnection);
  const port = await listen(v4);
  const v6 = net.createServer(onConnection);
  const hasV6 = await new Promise<boolean>((resolve) => {
    v6.once('error', () => resolve(false));
    v6.listen(port, '::1', () => resolve(true));
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    hits,
    v6: hasV6,
    close: async () => {
      await closer(v4)();
      if (hasV6) await closer(v6)();
    },
  };
}

describe('Image import (PUT /products/:id/image)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let images: Server;
  let target: Server & { v6: boolean };
  let jpeg: Buffer;
  let png: Buffer;
  const c: Record<'admin' | 'staff' | 'adminKey' | 'staffKey', Credential> = {} as never;

  beforeAll(async () => {
    jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect);
    jpeg = await sharp(await noisyPng(480, 320))
      .jpeg({ quality: 70 })
      .toBuffer();
    png = await noisyPng(300, 200);
    target = await startTarget();

    const hits: string[] = [];
    const server = http.createServer((req, res) => {
      hits.push(req.url ?? '');
      route(req, res);
    });
    const port = await listen(server);
    const origin = `http://127.0.0.1:${port}`;
    images = { origin, port, hits, close: closer(server) };
    function route(req: http.IncomingMessage, res: http.ServerResponse): void {
      const url = new URL(req.url ?? '/', origin);
      const hops = /^\/hops\/(\d+)$/.exec(url.pathname);
      if (hops) {
        const left = Number(hops[1]);
        if (left > 0) return void res.writeHead(302, { Location: `/hops/${left - 1}` }).end();
        return void res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
      }
      switch (url.pathname) {
        case '/shoe.jpg':
          return void res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(jpeg);
        case '/shoe.png':
          // A wrong Content-Type: the bytes decide.
          return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end(png);
        case '/page.html':
          return void res.writeHead(200, { 'Content-Type': 'image/png' }).end(htmlBytes());
        case '/to-target':
          return void res.writeHead(302, { Location: `${target.origin}/` }).end();
        case '/missing':
          return void res.writeHead(404).end();
        case '/failing':
          return void res.writeHead(500).end();
        case '/no-content':
          return void res.writeHead(204).end();
        case '/empty':
          return void res.writeHead(200, { 'Content-Type': 'image/png' }).end();
        case '/empty-chunked':
          // No Content-Length: a body that ends before its first byte.
          res.writeHead(200, { 'Content-Type': 'image/png', 'Transfer-Encoding': 'chunked' });
          return void res.end();
        case '/too-big': {
          // Chunked, no Content-Length: only counting can stop it.
          res.writeHead(200, { 'Content-Type': 'image/png' });
          const chunk = Buffer.alloc(16 * 1024, 0x61);
          let sent = 0;
          const pump = (): void => {
            while (sent <= MAX_UPLOAD_BYTES + chunk.length) {
              sent += chunk.length;
              if (!res.write(chunk)) return void res.once('drain', pump);
            }
            res.end();
          };
          res.on('error', () => undefined);
          return pump();
        }
        case '/lying-length': {
          // Says 100 bytes but sends the whole image and more, straight onto the socket.
          const head = 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100\r\n\r\n';
          return void req.socket.end(Buffer.concat([Buffer.from(head), png, png]));
        }
        case '/trickle': {
          res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': 100_000 });
          res.flushHeaders();
          const timer = setInterval(() => res.write(png.subarray(0, 1)), 100);
          res.on('close', () => clearInterval(timer));
          return;
        }
        default:
          return void res.writeHead(404).end();
      }
    }

    storage = await startStorageBackend('local');
    t = await startTestApp({
      ...storage.env,
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      JSON_BODY_LIMIT_BYTES: String(JSON_BODY_LIMIT_BYTES),
      IMPORT_TIMEOUT_MS: '1500',
      // The target's port is allowed, so that only its address can be the reason for refusing it.
      IMPORT_ALLOWED_PORTS: `80,443,${target.port}`,
      IMPORT_ALLOWED_PRIVATE_ORIGINS: images.origin,
    });
    app = t.app;
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'stella', Role.Staff);
    const key = async (role: Role) => {
      const res = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
        name: `${role} key`,
        role,
        scopes: [Scope.ProductsRead, Scope.ImagesRead, Scope.ImagesWrite],
      });
      return { apiKey: res.json<{ key: string }>().key };
    };
    c.adminKey = await key(Role.Admin);
    c.staffKey = await key(Role.Staff);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await t?.close();
    await storage?.close();
    await images?.close();
    await target?.close();
  });

  afterEach(() => {
    expect(target.hits).toEqual([]);
    expect(tempFiles()).toEqual([]);
  });

  const tempFiles = () => filesBelow(join(t.db.env.DATA_DIR, 'tmp'));
  const dataUri = (type: string, bytes: Buffer) =>
    `data:${type};base64,${bytes.toString('base64')}`;

  let productCount = 0;
  async function newProduct(credential = c.admin): Promise<{ id: string; slug: string }> {
    productCount++;
    const res = await call(app, 'POST', '/api/v1/products', credential, {
      name: `Import product ${productCount}`,
    });
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  const put = (productId: string, body: unknown, credential: Credential = c.admin) =>
    call(app, 'PUT', `/api/v1/products/${productId}/image`, credential, body);

  async function rows(productId: string) {
    return app
      .get(DataSource)
      .query<
        { id: string; source: string; is_primary: boolean; storage_key: string; width: number }[]
      >(
        `SELECT id, source, is_primary, storage_key, width FROM images WHERE product_id = $1 ORDER BY created_at`,
        [decodeId(productId)],
      );
  }

  /** Until the file-deletion jobs queued by what the test did have run. */
  async function deletionsDone(): Promise<void> {
    await eventually(
      async () => (await pendingFileDeletions(app.get(DataSource))).length === 0,
      'queued file deletions to finish',
    );
  }

  /** Nothing stored for the product: no row, no file. */
  async function expectNothingStored(productId: string): Promise<void> {
    expect(await rows(productId)).toEqual([]);
    await deletionsDone();
    expect(storage.stored().filter((k) => k.includes(decodeId(productId) ?? '-'))).toEqual([]);
  }

  describe('from a data URI', () => {
    it('crops to 500×500, makes it the primary, and returns the product with it', async () => {
      const product = await newProduct();
      const res = await put(product.id, { image: dataUri('image/jpeg', jpeg) });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ id: product.id, image_count: 1 });
      expect(body.primary_image).toMatchObject({ width: 500, height: 500 });
      // What the Ocha API's clients read: its message, and the URL as `imageUrl`.
      expect(body).toMatchObject({ message: 'Image uploaded successfully', imageUrl: body.image });
      expect(body.image).toBe(body.primary_image.url);
      const [row] = await rows(product.id);
      expect(row).toMatchObject({ source: 'import', is_primary: true, width: 500 });
      const stored = storage.stored().filter((k) => k.includes(decodeId(product.id) ?? '-'));
      expect(stored).toContain(row.storage_key);
      // The original is a JPEG still (format kept), 500×500, without metadata.
      const media = await call(app, 'GET', `/media/${row.storage_key}`);
      expect(media.statusCode).toBe(200);
      expect(await sharp(media.rawPayload).metadata()).toMatchObject({
        format: 'jpeg',
        width: 500,
        height: 500,
      });
    });

    it('replaces the image imported before, deleting its files, and keeps uploaded ones', async () => {
      const product = await newProduct();
      const upload = multipart({}, [
        { name: 'image', filename: 'a.jpg', data: await solidJpeg(), contentType: 'image/jpeg' },
      ]);
      const uploaded = await app.inject({
        method: 'POST',
        url: `/api/v1/products/${product.id}/images`,
        headers: {
          ...upload.headers,
          authorization: `Bearer ${(c.admin as { bearer: string }).bearer}`,
        },
        payload: upload.payload,
      });
      expect(uploaded.statusCode).toBe(201);
      expect((await put(product.id, { image: dataUri('image/png', png) })).statusCode).toBe(200);
      const first = (await rows(product.id)).find((r) => r.source === 'import');
      const second = await put(product.id, { image: dataUri('image/jpeg', jpeg) });
      expect(second.statusCode).toBe(200);
      expect(second.json().image_count).toBe(2);
      const now = await rows(product.id);
      const imported = now.filter((r) => r.source === 'import');
      expect(imported).toHaveLength(1);
      expect(imported[0].is_primary).toBe(true);
      expect(imported[0].id).not.toBe(first?.id);
      expect(now.find((r) => r.source === 'upload')?.is_primary).toBe(false);
      // The first import's files are gone (deleted by a file-deletion job just after the
      // answer); the upload's and the new import's are there.
      await deletionsDone();
      const keys = storage.stored();
      expect(keys).not.toContain(first?.storage_key);
      for (const row of now) expect(keys).toContain(row.storage_key);
      expect(second.json().primary_image.id).toBe(
        (await call(app, 'GET', `/api/v1/products/${product.id}/images`, c.admin)).json().items[0]
          .id,
      );
    });

    it('takes what Cloudinary takes: old type names, no type, a payload without its padding', async () => {
      const unpadded = (buffer: Buffer) => buffer.toString('base64').replace(/=+$/, '');
      // A JPEG whose base64 needs padding (a length not a multiple of 3), so that leaving it out
      // is tried.
      let odd = jpeg;
      for (let quality = 90; odd.length % 3 === 0; quality--) {
        odd = await sharp(jpeg).jpeg({ quality }).toBuffer();
      }
      for (const image of [
        dataUri('image/x-png', png),
        dataUri('image/pjpeg', jpeg),
        `data:application/octet-stream;base64,${jpeg.toString('base64')}`,
        `data:;base64,${png.toString('base64')}`,
        `data:image/jpeg;base64,${unpadded(odd)}`,
      ]) {
        const product = await newProduct();
        const res = await put(product.id, { image });
        expect({ image: image.slice(0, 40), status: res.statusCode }).toEqual({
          image: image.slice(0, 40),
          status: 200,
        });
        expect(res.json().primary_image).toMatchObject({ width: 500, height: 500 });
      }
    });

    it('refuses a malformed URI or payload: 400 invalid_data_uri, nothing stored', async () => {
      const product = await newProduct();
      for (const image of [
        'data:image/png;base64',
        'data:text/plain;base64,aGVsbG8=',
        'data:image/png,rawbytes',
        'data:image/png;base64,abc*',
        'data:image/png;base64,abcde',
      ]) {
        const res = await put(product.id, { image });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({
          code: 'invalid_data_uri',
          errors: [{ field: 'image' }],
        });
      }
      await expectNothingStored(product.id);
    });

    it('refuses a data URI holding no image on each of its routes: 400 invalid_data_uri, nothing stored', async () => {
      const res = await call(app, 'POST', '/api/v1/products', c.admin, {
        name: 'Empty data URIs',
        gtin: '5901234123457',
        external_id: 'empty-data-uri',
      });
      expect(res.statusCode).toBe(201);
      const product = res.json<{ id: string }>();
      const routes = [
        `/api/v1/products/${product.id}/image`,
        '/api/v1/products/by-gtin/5901234123457/image',
        '/api/v1/products/by-external-id/empty-data-uri/image',
      ];
      const malformed = 'is not a valid data:image/<type>;base64 URI';
      // An empty payload (white space is no payload) is an empty image, as an empty multipart
      // file is: said so, as that file's `is empty`, not as base64 gone wrong.
      const cases: [string, RegExp, string][] = [
        ['data:image/png;base64,', /empty/, 'is empty'],
        ['data:image/png;base64,\r\n ', /empty/, 'is empty'],
        ['data:,', /data:image\/<type>;base64,<payload>/, malformed],
        ['data:image/png;base64', /data:image\/<type>;base64,<payload>/, malformed],
        ['data:image/png;base64,====', /not valid base64/, malformed],
      ];
      for (const route of routes) {
        for (const [image, detail, message] of cases) {
          const answer = await call(app, 'PUT', route, c.admin, { image });
          expect({
            route,
            image,
            status: answer.statusCode,
            type: answer.headers['content-type'],
          }).toEqual({
            route,
            image,
            status: 400,
            type: 'application/problem+json; charset=utf-8',
          });
          expect(answer.json()).toMatchObject({
            code: 'invalid_data_uri',
            detail: expect.stringMatching(detail) as unknown,
            errors: [{ field: 'image', message }],
          });
          expect(tempFiles()).toEqual([]);
        }
      }
      await expectNothingStored(product.id);
    });

    it('refuses a declared type that differs from the bytes, and HTML: 400', async () => {
      const product = await newProduct();
      const mismatch = await put(product.id, { image: dataUri('image/png', jpeg) });
      expect(mismatch.statusCode).toBe(400);
      expect(mismatch.json().code).toBe('image_type_mismatch');
      const html = await put(product.id, { image: dataUri('image/png', htmlBytes()) });
      expect(html.statusCode).toBe(400);
      expect(html.json().code).toBe('unsupported_image_type');
      await expectNothingStored(product.id);
    });

    it('answers 413 from the base64 length, and fits the largest image in the body limit', async () => {
      const product = await newProduct();
      // Over MAX_UPLOAD_BYTES once decoded, yet within the route's body limit.
      const over = await put(product.id, {
        image: `data:image/png;base64,${'A'.repeat(Math.ceil((MAX_UPLOAD_BYTES + 3) / 3) * 4)}`,
      });
      expect(over.statusCode).toBe(413);
      expect(over.json().code).toBe('file_too_large');
      // Bigger than the route's limit: the body is not even read.
      const huge = await put(product.id, {
        image: `data:image/png;base64,${'A'.repeat(1_200_000)}`,
      });
      expect(huge.statusCode).toBe(413);
      expect(huge.json().code).toBe('payload_too_large');
      // An image of almost MAX_UPLOAD_BYTES, far above JSON_BODY_LIMIT_BYTES, is accepted here…
      const big = await noisyPng(360, 360);
      expect(big.length).toBeGreaterThan(JSON_BODY_LIMIT_BYTES * 5);
      expect(big.length).toBeLessThanOrEqual(MAX_UPLOAD_BYTES);
      const ok = await put(product.id, { image: dataUri('image/png', big) });
      expect(ok.statusCode).toBe(200);
      // Images of MAX_UPLOAD_BYTES less a little, in JSON as PHP's json_encode writes it (every
      // "/" as "\/") and their base64 in MIME lines (76 characters, then "\r\n"): the same
      // value. Noise has the usual share of "/"; 0xFF bytes are all "/", their JSON twice as long.
      for (const fill of [undefined, 0xff]) {
        const largest = await pngOfSize(MAX_UPLOAD_BYTES - 64, fill);
        const lines = largest.toString('base64').match(/.{1,76}/g) ?? [];
        const json = JSON.stringify({ image: `data:image/png;base64,${lines.join('\r\n')}` });
        const php = json.replace(/\//g, '\\/');
        const encoded = await app.inject({
          method: 'PUT',
          url: `/api/v1/products/${product.id}/image`,
          headers: { ...authHeaders(c.admin), 'content-type': 'application/json' },
          payload: php,
        });
        expect({
          fill,
          length: php.length,
          status: encoded.statusCode,
          body: encoded.statusCode === 200 ? '' : encoded.body,
        }).toEqual({ fill, length: php.length, status: 200, body: '' });
      }
      // …while other JSON routes keep JSON_BODY_LIMIT_BYTES.
      const other = await call(app, 'PATCH', `/api/v1/products/${product.id}`, c.admin, {
        description: 'x'.repeat(JSON_BODY_LIMIT_BYTES),
      });
      expect(other.statusCode).toBe(413);
    });
  });

  describe('from a URL', () => {
    it('fetches the image (type from the bytes, name from the URL)', async () => {
      const product = await newProduct();
      const res = await put(product.id, { image: `${images.origin}/shoe.png` });
      expect(res.statusCode).toBe(200);
      expect(res.json().primary_image).toMatchObject({ width: 500, height: 500 });
      const gallery = await call(app, 'GET', `/api/v1/products/${product.id}/images`, c.admin);
      expect(gallery.json().items[0]).toMatchObject({
        format: 'png',
        original_filename: 'shoe.png',
        is_primary: true,
      });
    });

    it('follows 3 redirects', async () => {
      const product = await newProduct();
      const res = await put(product.id, { image: `${images.origin}/hops/3` });
      expect(res.statusCode).toBe(200);
    });

    it('answers HTML with 400 unsupported_image_type, nothing stored', async () => {
      const product = await newProduct();
      const res = await put(product.id, { image: `${images.origin}/page.html` });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('unsupported_image_type');
      await expectNothingStored(product.id);
    });

    it('cuts a body over MAX_UPLOAD_BYTES while streaming: 413, nothing stored', async () => {
      const product = await newProduct();
      const res = await put(product.id, { image: `${images.origin}/too-big` });
      expect(res.statusCode).toBe(413);
      expect(res.json().code).toBe('file_too_large');
      await expectNothingStored(product.id);
    });

    /** `TARGET` is the target's port, `IMAGES` the allowed image server's origin. */
    const REFUSED: [string, string][] = [
      ['loopback', 'http://127.0.0.1:TARGET/'],
      ['loopback on the default port', 'http://127.0.0.1/'],
      ['localhost', 'http://localhost:TARGET/'],
      ['IPv6 loopback', 'http://[::1]:TARGET/'],
      ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]:TARGET/'],
      ['decimal IPv4', 'http://2130706433:TARGET/'],
      ['octal IPv4', 'http://0177.0.0.1:TARGET/'],
      ['hex IPv4', 'http://0x7f.1:TARGET/'],
      ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
      ['a name resolving to loopback', 'http://HOSTNAME:TARGET/'],
      ['a redirect from an allowed server to loopback', 'IMAGES/to-target'],
      ['a fourth redirect', 'IMAGES/hops/4'],
      ['credentials in the URL', 'http://user:secret@127.0.0.1:TARGET/'],
      ['a port not allowed', 'http://127.0.0.1:OTHERPORT/'],
      ['a server lying about Content-Length', 'IMAGES/lying-length'],
      ['a server trickling past the timeout', 'IMAGES/trickle'],
      ['a 404', 'IMAGES/missing'],
      ['a 500', 'IMAGES/failing'],
      // Answered, but with no image at all: the URL's fault, as a 404 is, not the file's type.
      ['a 204 No Content', 'IMAGES/no-content'],
      ['an empty 200', 'IMAGES/empty'],
      ['an empty chunked 200', 'IMAGES/empty-chunked'],
    ];
    const expand = (template: string) =>
      template
        .replace('TARGET', String(target.port))
        .replace('OTHERPORT', String(images.port + 1))
        .replace('IMAGES', images.origin)
        .replace('HOSTNAME', hostname());

    it('the host name used below resolves to loopback (precondition)', async () => {
      const answers = await lookup(hostname(), { all: true });
      expect(answers.length).toBeGreaterThan(0);
      expect(answers.every((a) => a.address.startsWith('127.') || a.address === '::1')).toBe(true);
    });

    it.each(REFUSED)(
      'refuses %s with 400 image_url_unreachable, reaching nothing, storing nothing',
      async (_label, template) => {
        const url = expand(template);
        const product = await newProduct();
        const before = images.hits.length;
        connects.length = 0;
        const res = await put(product.id, { image: url });
        // Refused before connecting: no attempt to any port but the allowed image server's and
        // the database's, and never to the metadata address.
        const attempts = connects.filter(
          (a) => a.port !== images.port && !(a.port === 5432 && a.host === '127.0.0.1'),
        );
        expect({ url, attempts }).toEqual({ url, attempts: [] });
        expect({ url, status: res.statusCode, body: res.json() }).toMatchObject({
          status: 400,
          body: {
            code: 'image_url_unreachable',
            errors: [{ field: 'image', message: 'could not be fetched' }],
          },
        });
        // One and the same answer, whatever the reason: no port or network scanning.
        expect(res.json().detail).toMatch(/^The image could not be fetched from this URL\./);
        expect(target.hits).toEqual([]);
        if (template.startsWith('IMAGES')) expect(images.hits.length).toBeGreaterThan(before);
        await expectNothingStored(product.id);
      },
    );
  });

  describe('neither a data URI nor an http(s) URL', () => {
    it.each([
      ['file:', 'file:///etc/passwd'],
      ['gopher:', 'gopher://127.0.0.1:80/_GET%20/'],
      ['ftp:', 'ftp://images.example.com/shoe.png'],
      ['javascript:', 'javascript:alert(1)'],
      ['text', 'not a url'],
      ['a file name', 'shoe.png'],
      ['a path', '/images/shoe.png'],
      ['a scheme-relative URL', '//images.example.com/shoe.png'],
      ['a malformed scheme', 'http:/images.example.com/shoe.png'],
      ['a URL after a space', ' https://images.example.com/shoe.png'],
      ['base64 without data:', 'image/png;base64,iVBORw0KGgo='],
      // http(s) and then no URL a parser reads: nothing could be fetched, nor even tried.
      ['an unclosed IPv6 host', 'http://['],
      ['a space in the host', 'http://a b/'],
      ['no host', 'http://'],
      ['a bad escape in the host', 'https://exa%mple.com/'],
    ])(
      'refuses %s with 400 invalid_image_source, reaching nothing, storing nothing',
      (_label, image) => expectSourceRefused(image, 'is neither a data URI nor an http(s) URL'),
    );

    // A URL parser drops tabs and line breaks (https://a.example/s\thoe.png is fetched as
    // …/shoe.png): the image would come from another URL than the one given, as bulk imports
    // refuse too. (A NUL is refused before, in any JSON string: validation_failed.)
    it.each([
      ['a tab', 'https://images.example.com/s\thoe.png'],
      ['a line break', 'https://images.example.com/shoe.png\n'],
      ['a carriage return in the host', 'https://images.exam\rple.com/shoe.png'],
      ['a C1 control', 'https://images.example.com/shoe\u0085.png'],
    ])(
      'refuses an http(s) URL holding %s with 400 invalid_image_source, fetching nothing',
      (_label, image) =>
        expectSourceRefused(image, 'holds a tab, line break or other control character'),
    );

    /** `image` refused 400 invalid_image_source with `message`, before any connection. */
    async function expectSourceRefused(image: string, message: string): Promise<void> {
      const product = await newProduct();
      connects.length = 0;
      const res = await put(product.id, { image });
      expect({ image, status: res.statusCode, body: res.json() }).toMatchObject({
        image,
        status: 400,
        body: { code: 'invalid_image_source', errors: [{ field: 'image', message }] },
      });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(connects.filter((a) => !(a.port === 5432 && a.host === '127.0.0.1'))).toEqual([]);
      await expectNothingStored(product.id);
    }

    it('still checks the product first: 404 for an unknown one', async () => {
      const res = await put('00000000-0000-4000-8000-000000000000', { image: 'shoe.png' });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('product_not_found');
    });

    it('takes HTTP and HTTPS in any case as URLs (then fetched as usual)', async () => {
      const product = await newProduct();
      const res = await put(product.id, {
        image: `${images.origin.replace('http', 'HTTP')}/shoe.jpg`,
      });
      expect(res.statusCode).toBe(200);
    });
  });

  describe('access and errors', () => {
    it('is for admins and admin keys with images:write; 401 without credentials', async () => {
      const product = await newProduct();
      const body = { image: dataUri('image/png', png) };
      const anonymous = await call(
        app,
        'PUT',
        `/api/v1/products/${product.id}/image`,
        undefined,
        body,
      );
      expect(anonymous.statusCode).toBe(401);
      expect((await put(product.id, body, c.staff)).json().code).toBe('insufficient_role');
      expect((await put(product.id, body, c.staffKey)).statusCode).toBe(403);
      expect((await put(product.id, body, c.adminKey)).statusCode).toBe(200);
      // A key without images:write, even an admin's, may not.
      const readOnly = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
        name: 'read only',
        role: Role.Admin,
        scopes: [Scope.ProductsRead, Scope.ImagesRead],
      });
      const res = await put(product.id, body, { apiKey: readOnly.json().key });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('insufficient_scope');
    });

    it('400 for a missing image or a bad id, 404 for an unknown or foreign product', async () => {
      const product = await newProduct();
      const missing = await put(product.id, {});
      expect(missing.statusCode).toBe(400);
      expect(missing.json()).toMatchObject({ code: 'validation_failed' });
      expect(missing.json().errors.map((e: { field: string }) => e.field)).toContain('image');
      const extra = await put(product.id, { image: dataUri('image/png', png), url: 'x' });
      expect(extra.statusCode).toBe(400);
      const badId = await put('not-an-id', { image: dataUri('image/png', png) });
      expect(badId.statusCode).toBe(400);
      expect(badId.json().code).toBe('invalid_id');
      const unknown = await put('00000000-0000-4000-8000-000000000000', {
        image: `${images.origin}/shoe.jpg`,
      });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().code).toBe('product_not_found');
      const rival = await otherOrganisationAdmin(app, 'import-rival', 'importrival');
      const foreign = await put(product.id, { image: dataUri('image/png', png) }, rival);
      expect(foreign.statusCode).toBe(404);
      await expectNothingStored(product.id);
    });

    it('works by GTIN too', async () => {
      const res = await call(app, 'POST', '/api/v1/products', c.admin, {
        name: 'By GTIN',
        gtin: '4006381333931',
      });
      expect(res.statusCode).toBe(201);
      const put = await call(app, 'PUT', '/api/v1/products/by-gtin/4006381333931/image', c.admin, {
        image: dataUri('image/jpeg', jpeg),
      });
      expect(put.statusCode).toBe(200);
      expect(put.json()).toMatchObject({ id: res.json().id, image_count: 1 });
    });

    it('serialises concurrent imports of one product: one imported image is left', async () => {
      const product = await newProduct();
      const results = await Promise.all(
        [png, jpeg, png, jpeg].map((bytes, i) =>
          put(product.id, { image: dataUri(i % 2 ? 'image/jpeg' : 'image/png', bytes) }),
        ),
      );
      expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
      const now = await rows(product.id);
      expect(now).toHaveLength(1);
      // The replaced imports' files are deleted by file-deletion jobs, just after.
      await deletionsDone();
      const mine = storage.stored().filter((k) => k.includes(decodeId(product.id) ?? '-'));
      expect(mine.filter((k) => k.includes('/original.'))).toEqual([now[0].storage_key]);
      const sha = createHash('sha256');
      sha.update((await call(app, 'GET', `/media/${now[0].storage_key}`)).rawPayload);
      const [{ sha256 }] = await app
        .get(DataSource)
        .query<{ sha256: string }[]>('SELECT sha256 FROM images WHERE id = $1', [now[0].id]);
      expect(sha.digest('hex')).toBe(sha256);
    });

    it('answers the gallery ETag, and refuses a stale If-Match with 412 before fetching anything', async () => {
      const product = await newProduct();
      const path = `/api/v1/products/${product.id}/image`;
      const first = await put(product.id, { image: dataUri('image/png', png) });
      expect(first.statusCode).toBe(200);
      const etag = first.headers.etag as string;
      const gallery = await call(app, 'GET', `/api/v1/products/${product.id}/images`, c.admin);
      expect(gallery.headers.etag).toBe(etag);
      const ifMatch = (value: string) => ({ headers: { 'if-match': value } });
      const current = await call(
        app,
        'PUT',
        path,
        c.admin,
        { image: `${images.origin}/shoe.jpg` },
        ifMatch(etag),
      );
      expect(current.statusCode).toBe(200);
      expect(current.headers.etag).not.toBe(etag);
      await deletionsDone();

      // The gallery has changed since `etag`: nothing fetched, nothing changed or stored.
      const [fetched, before, stored] = [
        images.hits.length,
        await rows(product.id),
        storage.stored(),
      ];
      const stale = await call(
        app,
        'PUT',
        path,
        c.admin,
        { image: `${images.origin}/shoe.png` },
        ifMatch(etag),
      );
      expect(stale.statusCode).toBe(412);
      expect(stale.json()).toMatchObject({ code: 'gallery_changed' });
      expect(images.hits.length).toBe(fetched);
      expect(await rows(product.id)).toEqual(before);
      expect(storage.stored()).toEqual(stored);
    });
  });
});

describe('Image import on S3 and Cloudinary', () => {
  let png: Buffer;
  let jpeg: Buffer;
  const dataUri = (type: string, bytes: Buffer) =>
    `data:${type};base64,${bytes.toString('base64')}`;

  beforeAll(async () => {
    png = await noisyPng(300, 200);
    jpeg = await sharp(await noisyPng(320, 240))
      .jpeg({ quality: 70 })
      .toBuffer();
  });

  async function start(driver: 's3' | 'cloudinary') {
    const backend = await startStorageBackend(driver);
    const t = await startTestApp(backend.env);
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const product = async (name: string, credential: Credential = admin) => {
      const res = await call(t.app, 'POST', '/api/v1/products', credential, { name });
      expect(res.statusCode).toBe(201);
      return res.json<{ id: string; slug: string }>();
    };
    const put = (productId: string, image: string, credential: Credential = admin) =>
      call(t.app, 'PUT', `/api/v1/products/${productId}/image`, credential, { image });
    const rows = (productId: string) =>
      t.app
        .get(DataSource)
        .query<{ id: string; storage_key: string; sha256: string }[]>(
          'SELECT id, storage_key, sha256 FROM images WHERE product_id = $1',
          [decodeId(productId)],
        );
    return { backend, t, admin, product, put, rows };
  }

  describe('Cloudinary: the Ocha API upload', () => {
    let env: Awaited<ReturnType<typeof start>>;
    beforeAll(async () => {
      env = await start('cloudinary');
    });
    afterAll(async () => {
      await env?.t.close();
      await env?.backend.close();
    });

    it('uploads to folder products/ under the slug, overwriting, with the 500×500 fill', async () => {
      const fake = env.backend.cloudinary!;
      const product = await env.product('Blue Shoe');
      expect(product.slug).toBe('blue-shoe');
      const res = await env.put(product.id, dataUri('image/jpeg', jpeg));
      expect(res.statusCode).toBe(200);
      // Uploaded under the image's own public id, then moved onto the slug's (a rename, never an
      // upload over it: see ocha-late-upload.e2e-spec.ts).
      const upload = fake.uploads[fake.uploads.length - 1];
      const [row] = await env.rows(product.id);
      expect(upload.fields).toMatchObject({
        folder: 'products/',
        public_id: `${decodeId(product.id)}/${row.id}/original`,
        transformation: 'c_fill,g_auto,h_500,w_500/f_auto,q_auto',
      });
      expect(fake.renames[fake.renames.length - 1]).toMatchObject({
        from_public_id: `products/${decodeId(product.id)}/${row.id}/original`,
        to_public_id: 'products/blue-shoe',
        // The SDK sends a rename's booleans as words (an upload's as 1).
        overwrite: 'true',
        invalidate: 'true',
      });
      expect(fake.assets.has('products/blue-shoe')).toBe(true);
      expect(fake.assets.has(`products/${decodeId(product.id)}/${row.id}/original`)).toBe(false);
      expect(res.json().primary_image.url).toMatch(/\/image\/upload\/.*products\/blue-shoe\.jpg$/);
      expect(res.json().primary_image.renditions.card).toContain('c_fill,g_auto,h_500,w_500');

      // Again, as a PNG: the same public id is taken over, not destroyed, and the row replaced.
      const destroysBefore = fake.destroys.length;
      const again = await env.put(product.id, dataUri('image/png', png));
      expect(again.statusCode).toBe(200);
      expect(fake.assets.get('products/blue-shoe')?.overwrites).toBe(1);
      expect(fake.destroys.slice(destroysBefore).map((d) => d.public_id)).toEqual([]);
      const rows = await env.rows(product.id);
      expect(rows).toHaveLength(1);
      expect(rows[0].storage_key).toBe('products/blue-shoe.png');
      const stored = fake.assets.get('products/blue-shoe')!.bytes;
      expect(createHash('sha256').update(stored).digest('hex')).toBe(rows[0].sha256);
    });

    it('gives a replacement a new URL: the version Cloudinary gave its upload, fetched anew', async () => {
      const fake = env.backend.cloudinary!;
      const product = await env.product('Tan Belt');
      const urlsOf = (res: { json(): { primary_image: Record<string, unknown> } }) => {
        const { url, renditions } = res.json().primary_image as {
          url: string;
          renditions: Record<string, string>;
        };
        return [url, ...Object.values(renditions)];
      };
      const first = urlsOf(await env.put(product.id, dataUri('image/jpeg', jpeg)));
      const v1 = fake.assets.get('products/tan-belt')!.version;
      const second = urlsOf(await env.put(product.id, dataUri('image/png', png)));
      const v2 = fake.assets.get('products/tan-belt')!.version;
      expect(v2).toBeGreaterThan(v1);
      // Every URL of each image names its own upload's version, so none of the second's is one a
      // browser or CDN may hold the first's bytes under.
      for (const url of first) expect(url).toContain(`/v${v1}/products/tan-belt`);
      for (const url of second) expect(url).toContain(`/v${v2}/products/tan-belt`);
      expect(second.filter((url) => first.includes(url))).toEqual([]);
      const [rendered] = await env.t.app
        .get(DataSource)
        .query<{ v: string }[]>(
          'SELECT storage_version::text AS v FROM images WHERE product_id = $1',
          [decodeId(product.id)],
        );
      expect(rendered.v).toBe(String(v2));
      // Cloudinary serves the new bytes at the new URL, and the API names it from then on.
      const fetched = Buffer.from(await (await fetch(second[0])).arrayBuffer());
      expect(fetched.equals(fake.assets.get('products/tan-belt')!.bytes)).toBe(true);
      const shown = await call(env.t.app, 'GET', `/api/v1/products/${product.id}`, env.admin);
      expect(urlsOf(shown)).toEqual(second);
    });

    it("never overwrites another organisation's product with the same slug", async () => {
      const fake = env.backend.cloudinary!;
      const mine = await env.product('Red Hat');
      expect((await env.put(mine.id, dataUri('image/jpeg', jpeg))).statusCode).toBe(200);
      const before = Buffer.from(fake.assets.get('products/red-hat')!.bytes);
      const rival = await otherOrganisationAdmin(env.t.app, 'cloud-rival', 'cloudrival');
      const theirs = await env.product('Red Hat', rival);
      expect(theirs.slug).toBe('red-hat');
      const res = await env.put(theirs.id, dataUri('image/png', png), rival);
      expect(res.statusCode).toBe(200);
      const uuid = decodeId(theirs.id);
      expect(fake.assets.has(`products/red-hat-${uuid}`)).toBe(true);
      expect(fake.assets.get('products/red-hat')!.bytes.equals(before)).toBe(true);
      expect((await env.rows(theirs.id))[0].storage_key).toBe(`products/red-hat-${uuid}.png`);
    });

    it("never overwrites a product whose slug spells another's fallback key: own keys then", async () => {
      const fake = env.backend.cloudinary!;
      // Ours takes products/pink-cap; the victim's product, in another organisation, would fall
      // back to products/pink-cap-<its uuid>, which a third organisation's product took first by
      // its name.
      expect(
        (await env.put((await env.product('Pink Cap')).id, dataUri('image/jpeg', jpeg))).statusCode,
      ).toBe(200);
      const victim = await otherOrganisationAdmin(env.t.app, 'cap-victim', 'capvictim');
      const theirs = await env.product('Pink Cap', victim);
      const uuid = decodeId(theirs.id)!;
      const squatter = await otherOrganisationAdmin(env.t.app, 'cap-squatter', 'capsquatter');
      const squat = await env.product(`Pink Cap ${uuid}`, squatter);
      expect(squat.slug).toBe(`pink-cap-${uuid}`);
      expect((await env.put(squat.id, dataUri('image/jpeg', jpeg), squatter)).statusCode).toBe(200);
      const squatted = Buffer.from(fake.assets.get(`products/pink-cap-${uuid}`)!.bytes);

      const res = await env.put(theirs.id, dataUri('image/png', png), victim);
      expect(res.statusCode).toBe(200);
      expect(fake.assets.get(`products/pink-cap-${uuid}`)!.bytes.equals(squatted)).toBe(true);
      const [row] = await env.rows(theirs.id);
      expect(row.storage_key).toMatch(new RegExp(`^products/${uuid}/${row.id}/original\\.png$`));
      const stored = fake.assets.get(`products/${uuid}/${row.id}/original`)!.bytes;
      expect(createHash('sha256').update(stored).digest('hex')).toBe(row.sha256);
    });

    it('keeps row and asset consistent under concurrent imports of one product', async () => {
      const fake = env.backend.cloudinary!;
      const product = await env.product('Green Scarf');
      const results = await Promise.all(
        [png, jpeg, png, jpeg].map((bytes, i) =>
          env.put(product.id, dataUri(i % 2 ? 'image/jpeg' : 'image/png', bytes)),
        ),
      );
      expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
      const rows = await env.rows(product.id);
      expect(rows).toHaveLength(1);
      const stored = fake.assets.get('products/green-scarf')!.bytes;
      expect(createHash('sha256').update(stored).digest('hex')).toBe(rows[0].sha256);
    });

    it('keeps the current image when a re-import fails after overwriting nothing', async () => {
      const fake = env.backend.cloudinary!;
      const product = await env.product('White Glove');
      expect((await env.put(product.id, dataUri('image/png', png))).statusCode).toBe(200);
      const [previous] = await env.rows(product.id);
      const bytes = Buffer.from(fake.assets.get('products/white-glove')!.bytes);
      const destroys = fake.destroys.length;
      fake.failNext(1, 500);
      const res = await env.put(product.id, dataUri('image/jpeg', jpeg));
      expect(res.statusCode).toBe(502);
      // The row still points at the asset, and the asset is still there, unchanged (only the
      // failed upload's own public id is cleaned up).
      expect(await env.rows(product.id)).toEqual([previous]);
      expect(fake.destroys.slice(destroys).map((d) => d.public_id)).not.toContain(
        'products/white-glove',
      );
      expect(fake.assets.get('products/white-glove')!.bytes.equals(bytes)).toBe(true);
      const shown = await call(env.t.app, 'GET', `/api/v1/products/${product.id}`, env.admin);
      expect(shown.json().primary_image.url).toMatch(/products\/white-glove\.png$/);
    });

    it('answers 502 when Cloudinary fails the move onto the slug, keeping the current image', async () => {
      // The upload under the image's own key succeeds; the rename onto products/<slug> fails
      // (first import and re-import alike): 502 storage_unavailable, never 500.
      const fake = env.backend.cloudinary!;
      const product = await env.product('Blue Tie');
      for (const status of [500, 420, 400]) {
        fake.failNext(1, status, 'image/rename');
        const first = await env.put(product.id, dataUri('image/png', png));
        expect({ status: first.statusCode, code: first.json().code }).toEqual({
          status: 502,
          code: 'storage_unavailable',
        });
        expect(await env.rows(product.id)).toEqual([]);
      }
      expect((await env.put(product.id, dataUri('image/png', png))).statusCode).toBe(200);
      const [previous] = await env.rows(product.id);
      const bytes = Buffer.from(fake.assets.get('products/blue-tie')!.bytes);
      fake.failNext(1, 503, 'image/rename');
      const res = await env.put(product.id, dataUri('image/jpeg', jpeg));
      expect({ status: res.statusCode, code: res.json().code }).toEqual({
        status: 502,
        code: 'storage_unavailable',
      });
      expect(await env.rows(product.id)).toEqual([previous]);
      expect(fake.assets.get('products/blue-tie')!.bytes.equals(bytes)).toBe(true);
    });

    it('answers 502 when Cloudinary fails, storing nothing', async () => {
      const fake = env.backend.cloudinary!;
      const product = await env.product('Grey Sock');
      fake.failNext(1, 500);
      const res = await env.put(product.id, dataUri('image/png', png));
      expect(res.statusCode).toBe(502);
      expect(res.json().code).toBe('storage_unavailable');
      expect(await env.rows(product.id)).toEqual([]);
      expect(fake.assets.has('products/grey-sock')).toBe(false);
    });
  });

  describe('S3: failures', () => {
    let env: Awaited<ReturnType<typeof start>>;
    beforeAll(async () => {
      env = await start('s3');
    });
    afterAll(async () => {
      await env?.t.close();
      await env?.backend.close();
    });

    it('answers 502 and keeps the previous import when the storage fails part-way', async () => {
      const { backend } = env;
      const product = await env.product('Black Belt');
      expect((await env.put(product.id, dataUri('image/png', png))).statusCode).toBe(200);
      const [previous] = await env.rows(product.id);
      const before = backend.stored();
      // The original is accepted, then every further write fails: the original must go.
      backend.faults!.failAfter(['PUT'], 1);
      try {
        const res = await env.put(product.id, dataUri('image/jpeg', jpeg));
        expect(res.statusCode).toBe(502);
        expect(res.json().code).toBe('storage_unavailable');
      } finally {
        backend.faults!.heal();
      }
      expect(await env.rows(product.id)).toEqual([previous]);
      // The original written before the failure is deleted by a file-deletion job, just after.
      await eventually(
        () => JSON.stringify(backend.stored()) === JSON.stringify(before),
        "the failed import's original to be deleted",
      );
      expect(backend.stored()).toEqual(before);
      const gallery = await call(env.t.app, 'GET', `/api/v1/products/${product.id}`, env.admin);
      expect(gallery.json().primary_image.id).toBeDefined();
    });
  });
});
