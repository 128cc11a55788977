import { Body, Controller, HttpCode, Module, Param, Post } from '@nestjs/common';
import { Public } from '../../src/auth/decorators';
import { ParseIdPipe } from '../../src/common/ids/parse-id.pipe';
import { call, login } from '../support/http';
import {
  eventually,
  parseRawResponse,
  RawClient,
  requestHead,
  type RawResponse,
} from '../support/slow-client';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * `Expect: 100-continue` refuses a malformed path before inviting the body, with the checks the
 * route's handler makes of it (common/http/path-checks.ts): for every route with path
 * parameters, a malformed one is answered the same with and without Expect, and an id the
 * handler refuses is refused before the body is invited. The routes are the ones the running
 * service documents (/docs-json), so a new one is covered without being listed here.
 */

/** Test-only routes: a `:id` that is not an id, and an id under a name no route had before. */
@Public()
@Controller('path-probe')
class PathProbeController {
  @Post('labels/:id')
  @HttpCode(200)
  label(@Param('id') id: string, @Body() _body: object): { id: string } {
    return { id };
  }

  @Post('boxes/:boxId')
  @HttpCode(200)
  box(@Param('boxId', ParseIdPipe) boxId: string, @Body() _body: object): { id: string } {
    return { id: boxId };
  }
}

@Module({ controllers: [PathProbeController] })
class PathProbeModule {}

const MALFORMED = 'not-an-id';
const SOME_UUID = '00000000-0000-4000-8000-000000000000';
const BODY = Buffer.from('{}');

interface Answer {
  /** The first answer: 100 when the body was invited. */
  first?: number;
  status?: number;
  code?: string;
}

describe('Expect: 100-continue and the path checks of every route', () => {
  let t: TestApp;
  let port: number;
  let bearer: string;
  /** Each documented operation with path parameters, once per parameter made malformed. */
  let cases: { method: string; route: string; param: string; path: string }[];

  beforeAll(async () => {
    t = await startTestApp({}, { imports: [PathProbeModule] });
    bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    const document = (await call(t.app, 'GET', '/docs-json')).json<{
      paths: Record<string, Record<string, unknown>>;
    }>();
    cases = Object.entries(document.paths).flatMap(([route, item]) => {
      const params = [...route.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      return Object.keys(item)
        .filter((method) => method !== 'parameters')
        .flatMap((method) =>
          params.map((param) => ({
            method: method.toUpperCase(),
            route,
            param,
            path: route.replace(/\{([^}]+)\}/g, (_, name) =>
              name === param ? MALFORMED : SOME_UUID,
            ),
          })),
        );
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });

  afterAll(async () => {
    await t?.close();
  });

  /** The answer to a JSON request of `{}`, sent whole or with Expect: 100-continue. */
  async function send(method: string, path: string, expectContinue: boolean): Promise<Answer> {
    const client = await RawClient.connect(port);
    const headers: Record<string, string> = {
      authorization: `Bearer ${bearer}`,
      'content-type': 'application/json',
      ...(expectContinue ? { expect: '100-continue' } : {}),
    };
    try {
      await client.write(requestHead(method, path, headers, BODY.length));
      if (!expectContinue) {
        await client.write(BODY);
        return summary(await client.answered(10_000));
      }
      const first = await client.answered(10_000);
      if (first?.status !== 100) return { first: first?.status, ...summary(first) };
      await client.write(BODY);
      const after = (): RawResponse | undefined => {
        const received = client.received();
        return parseRawResponse(received.subarray(received.indexOf('\r\n\r\n') + 4));
      };
      await eventually(() => after() !== undefined || client.closedAt !== undefined, 10_000);
      return { first: 100, ...summary(after()) };
    } finally {
      client.destroy();
    }
  }

  function summary(answer: RawResponse | undefined): Answer {
    if (!answer) return {};
    const code = answer.body ? (JSON.parse(answer.body) as { code?: string }).code : undefined;
    return { status: answer.status, code };
  }

  it('covers every documented route with path parameters, the test-only ones too', () => {
    expect(cases.length).toBeGreaterThan(50);
    expect(cases.map((c) => `${c.method} ${c.route}`)).toEqual(
      expect.arrayContaining([
        'POST /api/v1/path-probe/labels/{id}',
        'POST /api/v1/path-probe/boxes/{boxId}',
        'PATCH /api/v1/products/{productId}',
      ]),
    );
  });

  it('answers a malformed path parameter the same with and without Expect, on every route', async () => {
    let refusedUnread = 0;
    for (const c of cases) {
      const plain = await send(c.method, c.path, false);
      const expecting = await send(c.method, c.path, true);
      const what = `${c.method} ${c.route} (${c.param})`;
      expect({ what, status: expecting.status, code: expecting.code }).toEqual({
        what,
        status: plain.status,
        code: plain.code,
      });
      expect(plain.status).toBeLessThan(500);
      // What the handler refuses for its path alone is refused before the body is invited.
      if (plain.code === 'invalid_id') {
        expect({ what, first: expecting.first }).toEqual({ what, first: 400 });
        refusedUnread++;
      }
    }
    expect(refusedUnread).toBeGreaterThan(20);
  });

  it('invites the body of a route whose :id is not an id, and refuses one read as an id unread', async () => {
    const label = await send('POST', `/api/v1/path-probe/labels/${MALFORMED}`, true);
    expect(label).toEqual({ first: 100, status: 200, code: undefined });
    const box = await send('POST', `/api/v1/path-probe/boxes/${MALFORMED}`, true);
    expect(box).toEqual({ first: 400, status: 400, code: 'invalid_id' });
  });
});
