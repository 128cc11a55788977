import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger, type ArgumentsHost } from '@nestjs/common';
import { requestLogLevel } from '../logging/logger-params';
import { outcomeOf } from '../logging/request-outcome';
import { AppError } from './app.error';
import { ProblemDetailsFilter } from './problem-details.filter';

/** Runs the filter on one error; returns what it logged and the raw response it answered on. */
function filter(exception: unknown) {
  const raw = { statusCode: 200 } as ServerResponse;
  const reply = {
    sent: false,
    raw,
    header: () => reply,
    status: (code: number) => {
      raw.statusCode = code;
      return reply;
    },
    type: () => reply,
    send: jest.fn(),
  };
  const request = { id: 'req-1', method: 'POST', routeOptions: { url: '/api/v1/things' } };
  const host = {
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => reply }),
  } as unknown as ArgumentsHost;
  const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  try {
    new ProblemDetailsFilter().catch(exception, host);
    return { errors: error.mock.calls, warnings: warn.mock.calls, raw, sent: reply.send };
  } finally {
    error.mockRestore();
    warn.mockRestore();
  }
}

const req = { url: '/api/v1/things' } as IncomingMessage;

describe(ProblemDetailsFilter.name, () => {
  it('logs a fault of the service as an error, with its stack', () => {
    const { errors, raw } = filter(new TypeError('x is not a function'));
    expect(raw.statusCode).toBe(500);
    expect(errors).toHaveLength(1);
    const [fields, message] = errors[0] as [{ err: { stack: string } }, string];
    expect(message).toBe('Request failed with an unexpected error');
    expect(fields.err.stack).toContain('TypeError: x is not a function');
    expect(outcomeOf(raw)).toEqual({ code: 'internal_error', expected: false });
    expect(requestLogLevel(req, raw)).toBe('error');
  });

  it.each([
    ['server_busy', 503],
    ['storage_unavailable', 502],
  ] as const)('logs %s (%i) as a foreseen outcome: a warning, no stack', (code, status) => {
    const { errors, warnings, raw } = filter(new AppError(code, 'Try again later.'));
    expect(raw.statusCode).toBe(status);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(outcomeOf(raw)).toEqual({ code, expected: true });
    // The request's own line, without the error pino-http would make up for a 5xx.
    expect(requestLogLevel(req, raw)).toBe('warn');
  });

  it('logs a refused request (4xx) as a warning, no stack', () => {
    const { errors, raw } = filter(new AppError('product_not_found', 'No such product.'));
    expect(errors).toEqual([]);
    expect(outcomeOf(raw)).toEqual({ code: 'product_not_found', expected: true });
    expect(requestLogLevel(req, raw)).toBe('warn');
  });
});
