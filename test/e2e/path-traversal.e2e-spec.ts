import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * A path that climbs out of the folder a prefix serves from (`..`, however it is spelled) is
 * answered as any missing file under that prefix is: 404 problem+json with the prefix's own
 * not-found code, the same for every spelling, never a 403 that says the path was recognised nor
 * a 500. The requests go over a socket, as sent: an injected request's URL is parsed by WHATWG
 * URL first, which resolves `%2e%2e` segments before the service sees them.
 */

/** The port the service listens on (loopback, any free one). */
let port = 0;

interface Answer {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
}

/** GET `path` byte for byte as given (Node's client neither decodes nor resolves it). */
function get(path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = { text: text.slice(0, 200) };
        }
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'] ?? '',
          body,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** After `/console/` or `/media/`: each climbs out of the folder, or would if it were resolved. */
const SPELLINGS = [
  '../package.json',
  '%2e%2e/package.json',
  '%2E%2E/package.json',
  '%2E%2E%2Fpackage.json',
  '%2e%2e%2fpackage.json',
  '..%2fpackage.json',
  '.%2e/package.json',
  '%2e./package.json',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  'assets/%2e%2e/%2e%2e/package.json',
  'assets%2f%2e%2e%2findex.html',
  '..%5cpackage.json',
  '%2e%2e%5cpackage.json',
  '%2e%2e',
  '%2e%2e/',
  'x%00.js',
  // Not climbing, but a file named otherwise than plainly: no file either.
  './index.html',
  '%2e/index.html',
  'assets//nothing.js',
  'a%5cb.js',
];

/** Each prefix's answer to a file it does not have, which a climbing path must not differ from. */
const PREFIXES = [
  { prefix: '/console/', missing: '/console/assets/nothing-here.js', code: 'route_not_found' },
  { prefix: '/media/', missing: '/media/products/nothing-here.jpg', code: 'media_not_found' },
];

const CASES = PREFIXES.flatMap((p) =>
  SPELLINGS.map((spelling) => [`${p.prefix}${spelling}`, p] as const),
);

describe('Paths climbing out of /console and /media', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(PREFIXES)('answers a missing file under $prefix with 404 $code', async (p) => {
    const missing = await get(p.missing);
    expect(missing).toMatchObject({ status: 404, body: { status: 404, code: p.code } });
    expect(missing.contentType).toMatch(/^application\/problem\+json/);
  });

  it.each(CASES)('answers %s as a missing file: 404 problem+json', async (path, p) => {
    const [answer, missing] = await Promise.all([get(path), get(p.missing)]);
    expect({ path, status: answer.status }).toEqual({ path, status: 404 });
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    // The body of any missing file, but for the path it names and its own request id.
    const same = ({ type, title, status, code, errors }: Record<string, unknown>) => ({
      type,
      title,
      status,
      code,
      errors,
    });
    expect(same(answer.body)).toEqual(same(missing.body));
    expect(answer.body.code).toBe(p.code);
    expect(answer.body.detail).not.toMatch(/forbidden|traversal|outside/i);
  });
});
