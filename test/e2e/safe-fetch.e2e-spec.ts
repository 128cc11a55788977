import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createSecureContext } from 'node:tls';
import {
  safeFetch,
  type SafeFetchOptions,
  UrlFetchError,
  UrlFetchTooLargeError,
} from '../../src/images/intake/import/safe-fetch';
import { connects, guardedConnect } from '../support/loopback-guard';

/**
 * Everything here runs against servers on loopback. A guard on net.Socket#connect makes sure of
 * it: any connection to a non-loopback address is failed (ECONNREFUSED) before a packet is sent,
 * and every connection attempt is recorded so that tests can prove a refused URL was refused
 * before connecting at all.
 */

const MAX_BYTES = 64 * 1024;
const IMAGE = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  randomBytes(1234),
]);

// ---------------------------------------------------------------- servers

interface TestServer {
  origin: string;
  port: number;
  /** Requests (or, for raw servers, connections) seen since the last reset. */
  requests: string[];
  headers: http.IncomingHttpHeaders[];
  openConnections(): Promise<number>;
  close(): Promise<void>;
}

function wrap(
  server: net.Server,
  origin: string,
  port: number,
  requests: string[],
  headers: http.IncomingHttpHeaders[] = [],
): TestServer {
  return {
    origin,
    port,
    requests,
    headers,
    openConnections: () =>
      new Promise((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      ),
    close: async () => {
      if (server instanceof http.Server) server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function listen(server: net.Server, host: string, port = 0): Promise<number> {
  server.listen(port, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => Promise.reject(error as Error)),
  ]);
  return (server.address() as net.AddressInfo).port;
}

function urlHost(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

async function startHttpServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  host = '127.0.0.1',
  port = 0,
): Promise<TestServer> {
  const requests: string[] = [];
  const headers: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    headers.push(req.headers);
    handler(req, res);
  });
  const bound = await listen(server, host, port);
  return wrap(server, `http://${urlHost(host)}:${bound}`, bound, requests, headers);
}

/** A TCP server that answers with raw bytes once the request head has arrived. */
async function startRawServer(onRequest: (socket: net.Socket) => void): Promise<TestServer> {
  const requests: string[] = [];
  const server = net.createServer((socket) => {
    requests.push('connection');
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      onRequest(socket);
    };
    socket.on('data', onData);
  });
  const port = await listen(server, '127.0.0.1');
  return wrap(server, `http://127.0.0.1:${port}`, port, requests);
}

function sendImage(res: http.ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': IMAGE.length });
  res.end(IMAGE);
}

/** Server A: the allowed origin in most tests. */
function routeA(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://a');
  const redirect = /^\/redirect\/(\d+)$/.exec(url.pathname);
  if (redirect) {
    const left = Number(redirect[1]);
    if (left === 0) return sendImage(res);
    res.writeHead(302, { Location: `/redirect/${left - 1}` });
    return void res.end();
  }
  switch (url.pathname) {
    case '/image.png':
      return sendImage(res);
    case '/redirect-to':
      res.writeHead(302, { Location: url.searchParams.get('location') ?? '' });
      return void res.end();
    case '/redirect-no-location':
      res.writeHead(302);
      return void res.end();
    case '/not-found':
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      return void res.end('no such image');
    case '/server-error':
      res.writeHead(500);
      return void res.end();
    case '/gzip':
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'gzip' });
      return void res.end(IMAGE);
    case '/chunked-big': {
      // No Content-Length: only counting can tell.
      res.writeHead(200, { 'Content-Type': 'image/png' });
      const chunk = Buffer.alloc(1000, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < MAX_BYTES + 1000) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => undefined);
      return pump();
    }
    case '/declared-big':
      // Headers only; the body never comes, so reading it would hang until the deadline.
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': MAX_BYTES + 1 });
      return void res.flushHeaders();
    case '/trickle': {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': 100 });
      res.flushHeaders();
      const timer = setInterval(() => res.write('x'), 200);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case '/hang':
      return; // never answers
    default:
      res.writeHead(404);
      return void res.end();
  }
}

// ---------------------------------------------------------------- helpers

type Resolver = NonNullable<SafeFetchOptions['resolve']>;

function resolverFor(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const answers = table[hostname];
    if (!answers) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: net.isIP(address) as 4 | 6 }));
  };
  return Object.assign(resolve, { calls });
}

const noDns: Resolver = () => Promise.reject(new Error('this test must not resolve names'));

function options(overrides: Partial<SafeFetchOptions> = {}): SafeFetchOptions {
  return {
    maxBytes: MAX_BYTES,
    timeoutMs: 5000,
    maxRedirects: 3,
    allowedPorts: [80, 443],
    allowedPrivateOrigins: [],
    allowPrivateNetworks: false,
    resolve: noDns,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the fetch to fail');
    },
    (error: unknown) => error,
  );
}

async function fetchError(promise: Promise<unknown>): Promise<UrlFetchError> {
  const error = await failure(promise);
  expect(error).toBeInstanceOf(UrlFetchError);
  return error as UrlFetchError;
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

function hasIPv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((list) =>
    (list ?? []).some((i) => i.internal && i.address === '::1'),
  );
}

// ---------------------------------------------------------------- suite

describe(safeFetch.name, () => {
  let dir: string;
  let fileCount = 0;
  let a: TestServer;
  let b: TestServer;
  const extra: TestServer[] = [];

  /** A fresh destination path in the temporary directory. */
  const destination = () => join(dir, `image-${++fileCount}.bin`);
  const leftovers = () => readdirSync(dir);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'safe-fetch-'));
    a = await startHttpServer(routeA);
    b = await startHttpServer((_req, res) => sendImage(res));
  });

  afterAll(async () => {
    await Promise.all([a, b, ...extra].filter(Boolean).map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    connects.length = 0;
    for (const server of [a, b, ...extra]) {
      server.requests.length = 0;
      server.headers.length = 0;
    }
    jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect);
  });

  afterEach(() => {
    jest.restoreAllMocks();
    for (const name of leftovers()) rmSync(join(dir, name), { force: true });
  });

  describe('refuses before connecting', () => {
    const internal = resolverFor({
      'internal.test': ['127.0.0.1'],
      'mixed.test': ['93.184.215.14', '127.0.0.1'],
      'mixed6.test': ['2606:4700:4700::1111', '::1'],
      'metadata.test': ['169.254.169.254'],
    });

    it.each<[string, (port: number) => string, string, Partial<SafeFetchOptions>?]>([
      ['loopback', (p) => `http://127.0.0.1:${p}/image.png`, 'blocked-address:loopback'],
      ['loopback over https', (p) => `https://127.0.0.1:${p}/`, 'blocked-address:loopback'],
      ['localhost', (p) => `http://localhost:${p}/image.png`, 'blocked-host:localhost'],
      ['LOCALHOST.', (p) => `http://LOCALHOST.:${p}/`, 'blocked-host:localhost'],
      ['a *.localhost name', (p) => `http://app.localhost:${p}/`, 'blocked-host:localhost'],
      ['IPv6 loopback', (p) => `http://[::1]:${p}/`, 'blocked-address:loopback'],
      ['mapped IPv4', (p) => `http://[::ffff:127.0.0.1]:${p}/`, 'blocked-address:ipv4-mapped'],
      ['compatible IPv4', (p) => `http://[::127.0.0.1]:${p}/`, 'blocked-address:ipv4-compatible'],
      ['NAT64', (p) => `http://[64:ff9b::7f00:1]:${p}/`, 'blocked-address:nat64'],
      ['decimal IPv4', (p) => `http://2130706433:${p}/image.png`, 'blocked-address:loopback'],
      ['octal IPv4', (p) => `http://0177.0.0.1:${p}/image.png`, 'blocked-address:loopback'],
      ['hex IPv4', (p) => `http://0x7f.1:${p}/image.png`, 'blocked-address:loopback'],
      ['short IPv4', (p) => `http://127.1:${p}/image.png`, 'blocked-address:loopback'],
      ['0.0.0.0', (p) => `http://0.0.0.0:${p}/image.png`, 'blocked-address:unspecified'],
      ['0', (p) => `http://0:${p}/image.png`, 'blocked-address:unspecified'],
      [
        'cloud metadata',
        () => 'http://169.254.169.254/latest/meta-data/',
        'blocked-address:link-local',
      ],
      [
        'a name resolving to loopback',
        (p) => `http://internal.test:${p}/`,
        'blocked-address:loopback',
      ],
      ['a name resolving to metadata', () => 'http://metadata.test/', 'blocked-address:link-local'],
      ['public + loopback', (p) => `http://mixed.test:${p}/`, 'blocked-address:loopback'],
      ['public + ::1', (p) => `http://mixed6.test:${p}/`, 'blocked-address:loopback'],
      ['file:', () => 'file:///etc/passwd', 'scheme'],
      ['gopher:', () => 'gopher://127.0.0.1:70/', 'scheme'],
      ['ftp:', (p) => `ftp://127.0.0.1:${p}/image.png`, 'scheme'],
      ['data:', () => 'data:image/png;base64,iVBORw0KGgo=', 'scheme'],
      ['javascript:', () => 'javascript:alert(1)', 'scheme'],
      ['not a URL', () => 'not a url', 'invalid-url'],
      [
        'credentials, even with private networks allowed',
        (p) => `http://user:pass@127.0.0.1:${p}/image.png`,
        'credentials',
        { allowPrivateNetworks: true },
      ],
      ['a user name alone', (p) => `http://user@127.0.0.1:${p}/image.png`, 'credentials'],
      [
        'a non-default port without allowance',
        (p) => `http://127.0.0.1:${p}/image.png`,
        'port',
        { allowPrivateNetworks: true, allowedPorts: [80, 443] },
      ],
      [
        'a non-default port on a public name',
        () => 'http://images.example:8080/image.png',
        'port',
        { allowedPorts: [80, 443] },
      ],
    ])('%s', async (_name, url, reason, overrides = {}) => {
      internal.calls.length = 0;
      const target = destination();
      const error = await fetchError(
        safeFetch(
          url(a.port),
          target,
          options({
            // The server's own port is allowed, so that the address is what refuses it.
            allowedPorts: [80, 443, a.port],
            resolve: internal,
            ...overrides,
          }),
        ),
      );
      expect(error.reason).toBe(reason);
      expect(a.requests).toEqual([]);
      expect(connects).toEqual([]);
      expect(existsSync(target)).toBe(false);
    });

    it('resolves a name once and refuses it if any address is blocked', async () => {
      internal.calls.length = 0;
      const error = await fetchError(
        safeFetch(`http://mixed.test/`, destination(), options({ resolve: internal })),
      );
      expect(error.reason).toBe('blocked-address:loopback');
      expect(internal.calls).toEqual(['mixed.test']);
      expect(connects).toEqual([]);
    });

    it('does not look up localhost names at all', async () => {
      const resolve = resolverFor({ localhost: ['8.8.8.8'] });
      const error = await fetchError(
        safeFetch('http://localhost/', destination(), options({ resolve })),
      );
      expect(error.reason).toBe('blocked-host:localhost');
      expect(resolve.calls).toEqual([]);
    });

    it('maps resolver failures and empty answers to dns', async () => {
      const empty = resolverFor({ 'empty.test': [] });
      expect(
        (
          await fetchError(
            safeFetch('http://empty.test/', destination(), options({ resolve: empty })),
          )
        ).reason,
      ).toBe('dns');
      expect(
        (await fetchError(safeFetch('http://nx.test/', destination(), options({ resolve: empty }))))
          .reason,
      ).toBe('dns');
      const junk = resolverFor({ 'junk.test': ['not-an-ip'] });
      expect(
        (
          await fetchError(
            safeFetch('http://junk.test/', destination(), options({ resolve: junk })),
          )
        ).reason,
      ).toBe('dns');
      expect(connects).toEqual([]);
    });

    (hasIPv6Loopback() ? it : it.skip)(
      'IPv6 loopback, with a server listening on ::1',
      async () => {
        let v6: TestServer;
        try {
          v6 = await startHttpServer((_req, res) => sendImage(res), '::1');
        } catch {
          return; // IPv6 is configured but cannot be bound here: nothing to prove against.
        }
        try {
          const error = await fetchError(
            safeFetch(
              `http://[::1]:${v6.port}/image.png`,
              destination(),
              options({ allowedPorts: [80, 443, v6.port] }),
            ),
          );
          expect(error.reason).toBe('blocked-address:loopback');
          expect(v6.requests).toEqual([]);
          expect(connects).toEqual([]);
        } finally {
          await v6.close();
        }
      },
    );
  });

  describe('with an allowed private origin', () => {
    const allowA = (overrides: Partial<SafeFetchOptions> = {}) =>
      options({ allowedPrivateOrigins: [a.origin], ...overrides });

    it('fetches an image into a new file', async () => {
      const target = destination();
      const result = await safeFetch(`${a.origin}/image.png`, target, allowA());
      expect(result).toEqual({
        bytes: IMAGE.length,
        finalUrl: `${a.origin}/image.png`,
        contentType: 'image/png',
      });
      expect(readFileSync(target)).toEqual(IMAGE);
      // Readable by the service only, as every spooled upload is.
      expect(statSync(target).mode & 0o777).toBe(0o600);
      expect(a.requests).toEqual(['/image.png']);
    });

    it('sends only the expected headers: no cookies, credentials or referer', async () => {
      await safeFetch(
        `${a.origin}/redirect/1`,
        destination(),
        allowA({ userAgent: 'test-agent/1' }),
      );
      expect(a.headers).toHaveLength(2);
      for (const headers of a.headers) {
        expect(headers).toMatchObject({
          host: `127.0.0.1:${a.port}`,
          accept: 'image/*',
          'accept-encoding': 'identity',
          'user-agent': 'test-agent/1',
        });
        expect(headers.cookie).toBeUndefined();
        expect(headers.authorization).toBeUndefined();
        expect(headers.referer).toBeUndefined();
      }
    });

    it('sends a default User-Agent', async () => {
      await safeFetch(`${a.origin}/image.png`, destination(), allowA());
      expect(a.headers[0]['user-agent']).toEqual(expect.any(String));
    });

    it('writes to a stream and ends it', async () => {
      const sink = new PassThrough();
      const chunks: Buffer[] = [];
      sink.on('data', (chunk: Buffer) => chunks.push(chunk));
      const result = await safeFetch(`${a.origin}/image.png`, sink, allowA());
      expect(result.bytes).toBe(IMAGE.length);
      expect(sink.writableEnded).toBe(true);
      expect(Buffer.concat(chunks)).toEqual(IMAGE);
    });

    it('never writes over or removes an existing file', async () => {
      const target = destination();
      writeFileSync(target, 'keep me');
      const error = await failure(safeFetch(`${a.origin}/image.png`, target, allowA()));
      expect(error).not.toBeInstanceOf(UrlFetchError);
      expect((error as NodeJS.ErrnoException).code).toBe('EEXIST');
      expect(readFileSync(target, 'utf8')).toBe('keep me');
    });

    it("reports a failing destination as the caller's error, not the URL's", async () => {
      const sink = new Writable({
        write(_chunk, _encoding, callback) {
          callback(Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
        },
      });
      const error = await failure(safeFetch(`${a.origin}/image.png`, sink, allowA()));
      expect(error).not.toBeInstanceOf(UrlFetchError);
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    });

    it('refuses a redirect to a loopback server that is not allowed; it sees no request', async () => {
      const error = await fetchError(
        safeFetch(
          `${a.origin}/redirect-to?location=${encodeURIComponent(`${b.origin}/image.png`)}`,
          destination(),
          allowA({ allowedPorts: [80, 443, b.port] }),
        ),
      );
      expect(error.reason).toBe('blocked-address:loopback');
      expect(a.requests).toHaveLength(1);
      expect(b.requests).toEqual([]);
      expect(leftovers()).toEqual([]);
    });

    it.each([
      ['file:///etc/passwd', 'scheme'],
      ['gopher://127.0.0.1:70/', 'scheme'],
      ['http://169.254.169.254/latest/meta-data/', 'blocked-address:link-local'],
      ['http://[::ffff:169.254.169.254]/', 'blocked-address:ipv4-mapped'],
      ['http://2130706433/', 'blocked-address:loopback'],
      ['http://internal.test/', 'blocked-address:loopback'],
      ['http://127.0.0.1:22/', 'port'],
      ['http://[', 'bad-redirect'],
    ])('checks every redirect hop in full: %s → %s', async (location, reason) => {
      const resolve = resolverFor({ 'internal.test': ['127.0.0.1'] });
      const error = await fetchError(
        safeFetch(
          `${a.origin}/redirect-to?location=${encodeURIComponent(location)}`,
          destination(),
          allowA({ resolve }),
        ),
      );
      expect(error.reason).toBe(reason);
      expect(connects).toHaveLength(1); // only the first hop, to A
      expect(leftovers()).toEqual([]);
    });

    it('refuses credentials, even for the allowed origin', async () => {
      const url = `http://user:pass@127.0.0.1:${a.port}/image.png`;
      const error = await fetchError(safeFetch(url, destination(), allowA()));
      expect(error.reason).toBe('credentials');
      expect(a.requests).toEqual([]);
      expect(connects).toEqual([]);
    });

    it('refuses credentials in a redirect, even to the allowed origin', async () => {
      const location = `http://user:pass@127.0.0.1:${a.port}/image.png`;
      const error = await fetchError(
        safeFetch(
          `${a.origin}/redirect-to?location=${encodeURIComponent(location)}`,
          destination(),
          allowA(),
        ),
      );
      expect(error.reason).toBe('credentials');
      expect(a.requests).toHaveLength(1);
    });

    it('refuses a redirect without a Location', async () => {
      const error = await fetchError(
        safeFetch(`${a.origin}/redirect-no-location`, destination(), allowA()),
      );
      expect(error.reason).toBe('redirect-without-location');
    });

    it('follows a chain of 3 redirects', async () => {
      const target = destination();
      const result = await safeFetch(`${a.origin}/redirect/3`, target, allowA());
      expect(result.finalUrl).toBe(`${a.origin}/redirect/0`);
      expect(result.bytes).toBe(IMAGE.length);
      expect(readFileSync(target)).toEqual(IMAGE);
      expect(a.requests).toEqual(['/redirect/3', '/redirect/2', '/redirect/1', '/redirect/0']);
    });

    it('fails on the 4th redirect', async () => {
      const error = await fetchError(safeFetch(`${a.origin}/redirect/4`, destination(), allowA()));
      expect(error.reason).toBe('too-many-redirects');
      expect(a.requests).toEqual(['/redirect/4', '/redirect/3', '/redirect/2', '/redirect/1']);
      expect(leftovers()).toEqual([]);
    });

    it('honours a smaller maxRedirects', async () => {
      const error = await fetchError(
        safeFetch(`${a.origin}/redirect/1`, destination(), allowA({ maxRedirects: 0 })),
      );
      expect(error.reason).toBe('too-many-redirects');
    });

    it('counts a body without a declared length and stops past maxBytes; no file left', async () => {
      const error = await failure(safeFetch(`${a.origin}/chunked-big`, destination(), allowA()));
      expect(error).toBeInstanceOf(UrlFetchTooLargeError);
      expect(leftovers()).toEqual([]);
      expect(await eventually(async () => (await a.openConnections()) === 0)).toBe(true);
    });

    it('refuses a declared Content-Length over the limit without reading the body', async () => {
      const started = Date.now();
      const error = await failure(
        safeFetch(`${a.origin}/declared-big`, destination(), allowA({ timeoutMs: 30_000 })),
      );
      expect(error).toBeInstanceOf(UrlFetchTooLargeError);
      // The body never comes: reading it would have waited for the deadline.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(leftovers()).toEqual([]);
      expect(await eventually(async () => (await a.openConnections()) === 0)).toBe(true);
    });

    it('times out a server trickling one byte every 200 ms; no file left', async () => {
      const started = Date.now();
      const error = await fetchError(
        safeFetch(`${a.origin}/trickle`, destination(), allowA({ timeoutMs: 1000 })),
      );
      expect(error.reason).toBe('timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(leftovers()).toEqual([]);
      expect(await eventually(async () => (await a.openConnections()) === 0)).toBe(true);
    });

    it('times out a server that never answers', async () => {
      const error = await fetchError(
        safeFetch(`${a.origin}/hang`, destination(), allowA({ timeoutMs: 500 })),
      );
      expect(error.reason).toBe('timeout');
      expect(await eventually(async () => (await a.openConnections()) === 0)).toBe(true);
    });

    it('times out a resolver that never answers', async () => {
      const error = await fetchError(
        safeFetch(
          'http://slow.test/',
          destination(),
          options({ timeoutMs: 300, resolve: () => new Promise(() => undefined) }),
        ),
      );
      expect(error.reason).toBe('timeout');
      expect(connects).toEqual([]);
    });

    it.each([
      ['/not-found', 'status-404'],
      ['/server-error', 'status-500'],
    ])('fails on a non-2xx answer: %s', async (path, reason) => {
      const error = await fetchError(safeFetch(`${a.origin}${path}`, destination(), allowA()));
      expect(error.reason).toBe(reason);
      expect(leftovers()).toEqual([]);
    });

    it('refuses a compressed body (asked for identity)', async () => {
      const error = await fetchError(safeFetch(`${a.origin}/gzip`, destination(), allowA()));
      expect(error.reason).toBe('content-encoding');
      expect(leftovers()).toEqual([]);
    });

    it('destroys a destination stream when the body is too large', async () => {
      const sink = new PassThrough();
      sink.resume();
      const error = await failure(safeFetch(`${a.origin}/chunked-big`, sink, allowA()));
      expect(error).toBeInstanceOf(UrlFetchTooLargeError);
      expect(sink.destroyed).toBe(true);
    });

    it('allows every private address with allowPrivateNetworks, still only on allowed ports', async () => {
      const result = await safeFetch(
        `${a.origin}/image.png`,
        destination(),
        options({ allowPrivateNetworks: true, allowedPorts: [a.port] }),
      );
      expect(result.bytes).toBe(IMAGE.length);
    });
  });

  describe('raw servers', () => {
    let lying: TestServer;
    let closeDelimited: TestServer;
    let resetting: TestServer;
    let resetMidBody: TestServer;

    beforeAll(async () => {
      const big = Buffer.alloc(MAX_BYTES + 1000, 0x61);
      lying = await startRawServer((socket) => {
        socket.end(
          Buffer.concat([
            Buffer.from(
              'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 10\r\n' +
                'Connection: close\r\n\r\n',
            ),
            big,
          ]),
        );
      });
      closeDelimited = await startRawServer((socket) => {
        socket.end(
          Buffer.concat([
            Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n'),
            big,
          ]),
        );
      });
      resetting = await startRawServer((socket) => socket.destroy());
      resetMidBody = await startRawServer((socket) => {
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n' +
            'x'.repeat(100),
        );
        setTimeout(() => socket.resetAndDestroy(), 50);
      });
      extra.push(lying, closeDelimited, resetting, resetMidBody);
    });

    const allow = (server: TestServer) => options({ allowedPrivateOrigins: [server.origin] });

    it('a server lying about Content-Length (says 10, sends maxBytes+1000): fails, no file left', async () => {
      // The HTTP parser ends the body at the declared 10 bytes; the rest is not HTTP and fails
      // the exchange, so neither more than declared nor a truncated image is accepted.
      const error = await failure(safeFetch(`${lying.origin}/`, destination(), allow(lying)));
      expect(error).toBeInstanceOf(UrlFetchError);
      expect((error as UrlFetchError).reason).toBe('protocol');
      expect(lying.requests).toHaveLength(1);
      expect(leftovers()).toEqual([]);
    });

    it('counts a close-delimited body without Content-Length: too large, no file left', async () => {
      const error = await failure(
        safeFetch(`${closeDelimited.origin}/`, destination(), allow(closeDelimited)),
      );
      expect(error).toBeInstanceOf(UrlFetchTooLargeError);
      expect(leftovers()).toEqual([]);
    });

    it('a server that accepts then destroys the socket', async () => {
      const error = await fetchError(
        safeFetch(`${resetting.origin}/`, destination(), allow(resetting)),
      );
      expect(error.reason).toBe('reset');
      expect(resetting.requests).toHaveLength(1);
      expect(leftovers()).toEqual([]);
    });

    it('a server that resets the connection mid-body; no file left', async () => {
      const error = await fetchError(
        safeFetch(`${resetMidBody.origin}/`, destination(), allow(resetMidBody)),
      );
      expect(error.reason).toBe('reset');
      expect(leftovers()).toEqual([]);
    });

    it('a server answering 101 Switching Protocols: refused at once, not left hanging', async () => {
      // Node's client hands an upgrade's socket to an 'upgrade' listener, and without one
      // reports nothing at all: the fetch hung past its deadline, for ever.
      const switching = await startRawServer((socket) => {
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
        );
      });
      extra.push(switching);
      const error = await fetchError(
        safeFetch(`${switching.origin}/`, destination(), {
          ...allow(switching),
          timeoutMs: 60_000,
        }),
      );
      expect(error.reason).toBe('status-101');
      expect(leftovers()).toEqual([]);
    });

    it('a closed port', async () => {
      const closed = await startRawServer(() => undefined);
      await closed.close();
      const error = await fetchError(safeFetch(`${closed.origin}/`, destination(), allow(closed)));
      expect(error.reason).toBe('connect');
    });
  });

  describe('DNS rebinding', () => {
    it('resolves once per hop and connects to the address it checked (public, then loopback)', async () => {
      let calls = 0;
      const resolve: Resolver = async () => {
        calls++;
        return [{ address: calls === 1 ? '1.1.1.1' : '127.0.0.1', family: 4 }];
      };
      // 1.1.1.1 passes the check; the guard fails that connection without sending anything.
      const error = await fetchError(
        safeFetch(
          `http://rebind.test:${a.port}/image.png`,
          destination(),
          options({ resolve, allowedPorts: [80, 443, a.port] }),
        ),
      );
      expect(error.reason).toBe('connect');
      expect(calls).toBe(1);
      expect(connects).toMatchObject([{ host: 'rebind.test', addresses: ['1.1.1.1'] }]);
      expect(a.requests).toEqual([]);
    });

    describe('lands on the first-checked address only', () => {
      let c: TestServer | undefined;

      beforeAll(async () => {
        // Same port as A on another loopback address, counting requests.
        try {
          c = await startHttpServer((_req, res) => sendImage(res), '127.0.0.2', a.port);
          extra.push(c);
        } catch {
          c = undefined; // no 127.0.0.2 here: a connection to it would be refused instead
        }
      });

      it('one hop', async () => {
        let calls = 0;
        const resolve: Resolver = async () => {
          calls++;
          return [{ address: calls === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
        };
        const origin = `http://rebind.test:${a.port}`;
        const target = destination();
        const result = await safeFetch(
          `${origin}/image.png`,
          target,
          options({ resolve, allowedPrivateOrigins: [origin] }),
        );
        expect(result.bytes).toBe(IMAGE.length);
        expect(readFileSync(target)).toEqual(IMAGE);
        expect(calls).toBe(1);
        expect(a.requests).toEqual(['/image.png']);
        expect(a.headers[0].host).toBe(`rebind.test:${a.port}`);
        expect(c?.requests ?? []).toEqual([]);
        expect(connects).toMatchObject([{ host: 'rebind.test', addresses: ['127.0.0.1'] }]);
      });

      it('once per hop across redirects', async () => {
        const resolve = resolverFor({ 'rebind.test': ['127.0.0.1'] });
        const origin = `http://rebind.test:${a.port}`;
        const result = await safeFetch(
          `${origin}/redirect/2`,
          destination(),
          options({ resolve, allowedPrivateOrigins: [origin] }),
        );
        expect(result.finalUrl).toBe(`${origin}/redirect/0`);
        expect(resolve.calls).toEqual(['rebind.test', 'rebind.test', 'rebind.test']);
        expect(a.requests).toHaveLength(3);
        expect(c?.requests ?? []).toEqual([]);
      });
    });
  });

  describe('https', () => {
    let tls: { key: string; cert: string } | undefined;

    beforeAll(() => {
      // A throw-away self-signed certificate, when openssl is available.
      const certDir = mkdtempSync(join(tmpdir(), 'safe-fetch-tls-'));
      try {
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-days',
            '1',
            '-subj',
            '/CN=images.test',
            '-addext',
            'subjectAltName=DNS:images.test',
            '-keyout',
            join(certDir, 'key.pem'),
            '-out',
            join(certDir, 'cert.pem'),
          ],
          { stdio: 'ignore' },
        );
        tls = {
          key: readFileSync(join(certDir, 'key.pem'), 'utf8'),
          cert: readFileSync(join(certDir, 'cert.pem'), 'utf8'),
        };
      } catch {
        tls = undefined;
      } finally {
        rmSync(certDir, { recursive: true, force: true });
      }
    });

    it('uses the URL host name for SNI and verifies the certificate', async () => {
      // openssl is part of the machine's base system (as in CI); without it this must not pass.
      if (!tls) throw new Error('openssl is needed to make the test certificate');
      const credentials = tls;
      const servernames: string[] = [];
      const requests: string[] = [];
      const server = https.createServer(
        {
          ...credentials,
          SNICallback: (servername, callback) => {
            servernames.push(servername);
            callback(null, createSecureContext(credentials));
          },
        },
        (req, res) => {
          requests.push(req.url ?? '');
          sendImage(res);
        },
      );
      server.on('tlsClientError', () => undefined);
      const port = await listen(server, '127.0.0.1');
      try {
        const origin = `https://images.test:${port}`;
        const resolve = resolverFor({ 'images.test': ['127.0.0.1'] });
        const error = await fetchError(
          safeFetch(
            `${origin}/image.png`,
            destination(),
            options({ resolve, allowedPrivateOrigins: [origin] }),
          ),
        );
        // Self-signed: refused by certificate verification, after an SNI of the name.
        expect(error.reason).toBe('tls');
        expect(servernames).toEqual(['images.test']);
        expect(requests).toEqual([]);
        expect(connects).toMatchObject([{ host: 'images.test', addresses: ['127.0.0.1'] }]);
        expect(leftovers()).toEqual([]);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });
});
