import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noisyPng } from '../support/fixtures';
import { freePort, startService, waitForStatus, type RunningService } from '../support/process';
import { RawClient } from '../support/slow-client';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** A pino line as the service writes it with LOG_FORMAT=json. */
interface LogLine {
  level: number;
  msg: string;
  context?: string;
  request_id?: string;
  problem?: string;
  req?: { id: string };
  res?: { statusCode: number };
  err?: { stack?: string };
  parser_error?: string;
  status?: number;
}

const WARN = 40;
const ERROR = 50;
const PASSWORD = 'expected outcome logs';

/**
 * What the compiled service writes when it refuses work by design (503 server_busy under
 * back-pressure): warnings without a stack, not "unexpected error" lines.
 */
describe('Log lines of foreseen refusals', () => {
  let db: TestDatabase;
  let cwd: string;
  let service: RunningService | undefined;
  let lines: LogLine[];
  const statuses = new Map<string, number>();
  let slowlorisStatus: number | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    cwd = mkdtempSync(join(tmpdir(), 'pis-outcome-logs-'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    service = startService(
      {
        ...db.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
        ADMIN_EMAIL: 'admin@test.example',
        ADMIN_PASSWORD: PASSWORD,
        // One image at a time and no queue: concurrent uploads beyond the first get 503.
        IMAGE_PROCESSING_CONCURRENCY: '1',
        IMAGE_PROCESSING_QUEUE_LIMIT: '0',
        // Headers not in within 3 s: refused with 408 (a slowloris client). Not the least allowed
        // (1 s): it times the uploads' headers, and their bodies from then on, as well, and on a
        // loaded machine (a CI run at load 7) one upload was refused so, its client failing with
        // EPIPE as it wrote the body.
        HTTP_HEADERS_TIMEOUT_MS: '3000',
      },
      cwd,
    );
    try {
      await waitForStatus(`${base}/health/ready`, 200, 60_000);
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'admin@test.example', password: PASSWORD }),
      });
      const { access_token } = (await login.json()) as { access_token: string };
      const auth = { authorization: `Bearer ${access_token}` };
      const product = await fetch(`${base}/api/v1/products`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Busy' }),
      });
      const { id: productId } = (await product.json()) as { id: string };
      const png = await noisyPng(600, 600);
      await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const form = new FormData();
          form.append('image', new Blob([png], { type: 'image/png' }), 'busy.png');
          const id = `busy-${i}`;
          const res = await fetch(`${base}/api/v1/products/${productId}/images`, {
            method: 'POST',
            headers: { ...auth, 'x-request-id': id },
            body: form,
          });
          statuses.set(id, res.status);
          if (res.status === 503) {
            expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
            expect(res.headers.get('retry-after')).toBe('5');
            expect(await res.json()).toMatchObject({ code: 'server_busy', request_id: id });
          } else await res.arrayBuffer();
        }),
      );
      const slowloris = await RawClient.connect(port);
      await slowloris.write('GET /api/v1/products HTTP/1.1\r\nHost: x\r\n');
      await slowloris.closed;
      slowlorisStatus = slowloris.answer()?.status;
    } finally {
      service.child.kill('SIGTERM');
      await service.exit;
    }
    lines = service
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  }, 120_000);

  afterAll(async () => {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGKILL');
      await service.exit;
    }
    await db?.drop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  const linesOf = (id: string): LogLine[] =>
    lines.filter((l) => l.req?.id === id || l.request_id === id);

  it('refused some uploads with 503 server_busy', () => {
    expect([...statuses.values()]).toContain(503);
    expect([...statuses.values()].every((s) => s === 201 || s === 503)).toBe(true);
  });

  it('logs each 503 once, as a warning with its code and no stack', () => {
    for (const [id, status] of statuses) {
      if (status !== 503) continue;
      expect(linesOf(id)).toEqual([
        expect.objectContaining({
          level: WARN,
          msg: 'request completed',
          problem: 'server_busy',
          res: { statusCode: 503 },
        }),
      ]);
      expect(linesOf(id)[0].err).toBeUndefined();
    }
  });

  it("logs headers that did not arrive in time as every parser refusal: a warning with the parser's code", () => {
    expect(slowlorisStatus).toBe(408);
    const refused = lines.filter((l) => l.parser_error === 'ERR_HTTP_REQUEST_TIMEOUT');
    expect(refused).toEqual([
      expect.objectContaining({
        level: WARN,
        msg: 'Request refused by the HTTP parser; connection closed',
        status: 408,
      }),
    ]);
  });

  it('writes no error line and no stack for any of them', () => {
    const busy = [...statuses].filter(([, s]) => s === 503).map(([id]) => id);
    const concerning = busy.flatMap(linesOf);
    expect(concerning.filter((l) => l.level >= ERROR)).toEqual([]);
    expect(JSON.stringify(concerning)).not.toMatch(/stack|unexpected error/i);
  });
});
