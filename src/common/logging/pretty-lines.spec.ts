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

  it('writes out the control characters of what clients sent, which a terminal would obey', () => {
    // ESC sequences that clear the screen and retitle the window, a CR that overwrites the line,
    // a C1 CSI: in the message, in a field, in an error's message (and stack).
    const hostile = 'a\u001b[2J\u001b]0;owned\u0007b\rc\u009b31md';
    const text = written(false, (logger) =>
      logger.warn({ file: { name: hostile }, err: new Error(hostile) }, `upload ${hostile}`),
    );
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    expect(text.replace(/[\n\t]/g, '')).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(text).toContain('upload a\\u001b[2J\\u001b]0;owned\\u0007b\\u000dc\\u009b31md');
    expect(text).toContain('Error: a\\u001b[2J');
    // Line feeds and tabs stay: a stack is many lines.
    expect(text.split('\n').length).toBeGreaterThan(4);
  });

  it('keeps other fields, such as an error, below the line', () => {
    const text = written(false, (logger) => logger.error({ err: new Error('boom') }, 'failed'));
    expect(text).toMatch(/ERROR: failed\n/);
    expect(text).toContain('Error: boom');
  });
});
