import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify, stripVTControlCharacters } from 'node:util';
import {
  ensureBuilt,
  freePort,
  inheritedEnv,
  MAIN,
  startService,
  waitForStatus,
  type RunningService,
} from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** A pino line as the service writes it with LOG_FORMAT=json. */
interface LogLine {
  time: number;
  level: number;
  context?: string;
  msg: string;
  req?: { id: string; url: string };
  res?: { statusCode: number };
}

const execFileAsync = promisify(execFile);

/** A key of the shape the service writes: /media serves no other. */
const MEDIA_KEY =
  'products/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e/7c9e6679-7425-40de-944b-e07fc1f90ae7/original.webp';
const MEDIA_BYTES = randomBytes(200_000);
/** The start of an ANSI escape sequence, as colours are written. */
const ANSI = '\u001b[';

/**
 * Downloads with curl, which closes the connection as soon as the whole body (Content-Length) has
 * arrived, without waiting for the server to end the response: how "request aborted" was logged
 * for downloads that had completed.
 */
async function curl(url: string, id: string, into: string): Promise<Buffer> {
  const { stdout } = await execFileAsync('curl', [
    '-sS',
    '-o',
    into,
    '-w',
    '%{http_code}',
    '-H',
    `X-Request-Id: ${id}`,
    url,
  ]);
  expect(stdout).toBe('200');
  return readFileSync(into);
}

/** The requests whose logging is checked, each marked with its own request id. */
async function sendTraffic(port: number, into: string): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const get = (path: string, id: string): Promise<Response> =>
    fetch(base + path, { headers: { 'x-request-id': id } });
  expect((await get('/health', 'console-live')).status).toBe(200);
  expect((await get('/health/ready', 'console-ready')).status).toBe(200);
  expect((await get('/api/v1/products', 'console-api')).status).toBe(401);
  for (const n of [1, 2, 3]) {
    const body = await curl(
      `${base}/media/${MEDIA_KEY}`,
      `console-media-${n}`,
      join(into, 'a.webp'),
    );
    expect(body.equals(MEDIA_BYTES)).toBe(true);
  }
}

describe('Console output of the service', () => {
  let db: TestDatabase;
  let cwd: string;

  beforeAll(async () => {
    ensureBuilt();
    cwd = mkdtempSync(join(tmpdir(), 'pis-console-'));
    // Embedded on purpose: opening it takes long enough to tell real start-up times from one.
    db = await createTestDatabase('pglite');
    const file = join(db.env.DATA_DIR, 'media', MEDIA_KEY);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, MEDIA_BYTES);
  }, 180_000);

  afterAll(async () => {
    await db?.drop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  const environment = (port: number, extra: Record<string, string>): Record<string, string> => ({
    ...db.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ADMIN_PASSWORD: 'console output test',
    ...extra,
  });

  /** Runs the service through `traffic`, then stops it; returns all it wrote. */
  async function run(service: RunningService, port: number, stop: () => void): Promise<string> {
    try {
      await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200);
      await sendTraffic(port, cwd);
    } finally {
      stop();
    }
    expect(await service.exit).toEqual({ code: 0, signal: null });
    return service.output();
  }

  describe('when stdout is not a terminal (LOG_FORMAT=auto)', () => {
    let output: string;
    let lines: LogLine[];

    beforeAll(async () => {
      const port = await freePort();
      const service = startService(environment(port, {}), cwd);
      output = await run(service, port, () => service.child.kill('SIGTERM'));
      lines = output
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          try {
            return JSON.parse(line) as LogLine;
          } catch {
            throw new Error(`not a JSON line: ${line}`);
          }
        });
    }, 120_000);

    const byRequest = (id: string): LogLine[] => lines.filter((line) => line.req?.id === id);
    const line = (context: string, msg: string): LogLine => {
      const found = lines.find((l) => l.context === context && l.msg === msg);
      if (!found) throw new Error(`no "${context}: ${msg}" line in:\n${output}`);
      return found;
    };

    it('writes one JSON object a line, without colours', () => {
      expect(lines.length).toBeGreaterThan(20);
      expect(output).not.toContain(ANSI);
    });

    it('warns of no legacy route syntax', () => {
      expect(output).not.toContain('LegacyRouteConverter');
      expect(output).not.toContain('Unsupported route path');
    });

    it('names each controller at the path it is served at', () => {
      const controllers = lines.filter((l) => l.context === 'RoutesResolver').map((l) => l.msg);
      expect(controllers).toEqual(
        expect.arrayContaining([
          'HealthController {/health}:',
          'DeliveryController {/transform}:',
          'ProductsController {/api/v1/products}:',
        ]),
      );
      expect(output).not.toContain('/api/v1/health');
      expect(output).not.toContain('/api/v1/transform');
      line('RouterExplorer', 'Mapped {/health/ready, GET} route');
      line('RouterExplorer', 'Mapped {/transform/:signature/:transformation/:id, GET} route');
    });

    it('logs an API request once, and the probes not at all', () => {
      expect(byRequest('console-api')).toEqual([
        expect.objectContaining({ msg: 'request completed', res: { statusCode: 401 } }),
      ]);
      expect(byRequest('console-live')).toEqual([]);
      expect(byRequest('console-ready')).toEqual([]);
      expect(lines.filter((l) => l.req?.url.startsWith('/health'))).toEqual([]);
    });

    it('logs each download once, as completed, though the client hung up at its last byte', () => {
      for (const n of [1, 2, 3]) {
        expect(byRequest(`console-media-${n}`)).toEqual([
          expect.objectContaining({
            msg: 'request completed',
            req: expect.objectContaining({ url: `/media/${MEDIA_KEY}` }) as unknown,
            res: { statusCode: 200 },
          }),
        ]);
      }
      expect(output).not.toContain('request aborted');
    });

    it('stamps each start-up line with the time it was written', () => {
      const starting = line('NestFactory', 'Starting Nest application...');
      // Written once the embedded database has been opened and migrations checked.
      const databaseReady = line('InstanceLoader', 'TypeOrmCoreModule dependencies initialized');
      const started = line('NestApplication', 'Nest application successfully started');
      expect(databaseReady.time - starting.time).toBeGreaterThan(100);
      expect(started.time).toBeGreaterThanOrEqual(databaseReady.time);
    });
  });

  it('writes readable lines, without JSON or colours, with LOG_FORMAT=pretty', async () => {
    const port = await freePort();
    const service = startService(environment(port, { LOG_FORMAT: 'pretty' }), cwd);
    const output = await run(service, port, () => service.child.kill('SIGTERM'));
    expect(output).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[NestApplication\] Nest application successfully started$/m,
    );
    expect(output).toMatch(/^\[[\d:.]+\] WARN: GET \/api\/v1\/products 401 \d+ ms$/m);
    expect(output).toMatch(
      new RegExp(
        `^\\[[\\d:.]+\\] INFO: GET /media/${MEDIA_KEY.replaceAll('.', '\\.')} 200 \\d+ ms$`,
        'm',
      ),
    );
    expect(output).not.toMatch(/^\{/m);
    expect(output).not.toContain(ANSI);
  }, 120_000);

  it('writes readable, coloured lines to a terminal (LOG_FORMAT=auto)', async () => {
    const port = await freePort();
    // script(1) runs the service with a pseudo-terminal as its stdout.
    const command = `exec "${process.execPath}" "${MAIN}"`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd,
      env: { ...inheritedEnv(), ...environment(port, {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const service: RunningService = {
      child,
      output: () => output,
      // With -e, script exits with the service's own status.
      exit: once(child, 'exit').then(([code, signal]) => ({
        code: code as number | null,
        signal: signal as NodeJS.Signals | null,
      })),
    };
    // The service is script's child: signal it, as a terminal's Ctrl-C would.
    const stopService = (): void => {
      const pid = child.pid!;
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      for (const node of children.split(' ').filter(Boolean)) process.kill(Number(node), 'SIGINT');
    };
    try {
      await run(service, port, stopService);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const plain = stripVTControlCharacters(output).replaceAll('\r', '');
    expect(output).toContain(ANSI);
    expect(plain).toMatch(
      /^\[[\d:.]+\] INFO: \[NestApplication\] Nest application successfully started$/m,
    );
    expect(plain).toMatch(/^\[[\d:.]+\] WARN: GET \/api\/v1\/products 401 \d+ ms$/m);
    expect(plain).not.toMatch(/^\{/m);
  }, 120_000);
});
