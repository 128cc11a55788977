import { Writable } from 'node:stream';
import pino from 'pino';
import { humanMessage, prettyDestination } from './pretty-lines';

describe(humanMessage.name, () => {
  it('puts the context before the message', () => {
    expect(
      humanMessage({ context: 'RoutesResolver', msg: 'HealthController {/health}:' }, 'msg'),
    ).toBe('[RoutesResolver] HealthController {/health}:');
    expect(humanMessage({ msg: 'Listening' }, 'msg')).toBe('Listening');
  });

  it("turns a request's line into method, URL, status and time", () => {
    const log = {
      req: { method: 'GET', url: '/api/v1/products?limit=5' },
      res: { statusCode: 200 },
      responseTime: 12,
      msg: 'request completed',
    };
    expect(humanMessage(log, 'msg')).toBe('GET /api/v1/products?limit=5 200 12 ms');
    expect(humanMessage({ ...log, msg: 'request aborted' }, 'msg')).toBe(
      'GET /api/v1/products?limit=5 200 12 ms (request aborted)',
    );
  });
});

describe(prettyDestination.name, () => {
  const written = (colorize: boolean, log: (logger: pino.Logger) => void): string => {
    let text = '';
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    log(pino({}, prettyDestination(out, colorize)));
    return text;
  };

  it('writes a readable line at once, without colours unless asked', () => {
    const text = written(false, (logger) =>
      logger.info({ context: 'NestApplication' }, 'Nest application successfully started'),
    );
    expect(text).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[NestApplication\] Nest application successfully started\n$/,
    );
  });

  it('colours the level when asked', () => {
    const text = written(true, (logger) => logger.warn('careful'));
    expect(text).toContain('\u001b[');
    expect(text).toContain('careful');
  });

  it('keeps other fields, such as an error, below the line', () => {
    const text = written(false, (logger) => logger.error({ err: new Error('boom') }, 'failed'));
    expect(text).toMatch(/ERROR: failed\n/);
    expect(text).toContain('Error: boom');
  });
});
