import { REDACTED, redactHeaders, redactUrl } from './redact';
import { requestIdFor } from './request-id';
import type { IncomingMessage } from 'node:http';

describe(redactUrl.name, () => {
  it('leaves URLs without credentials unchanged', () => {
    expect(redactUrl('/api/v1/products?limit=10&cursor=abc')).toBe(
      '/api/v1/products?limit=10&cursor=abc',
    );
    expect(redactUrl('/health')).toBe('/health');
  });

  it.each(['api_key', 'x-api-key', 'API_KEY', 'x%2Dapi%2Dkey', 'token', 'access_token'])(
    'replaces the value of %s',
    (name) => {
      const out = redactUrl(`/api/v1/image?${name}=pis_secret123&limit=5`);
      expect(out).toBe(`/api/v1/image?${name}=${REDACTED}&limit=5`);
      expect(out).not.toContain('secret123');
    },
  );

  it.each(['secret', 'client_secret', 'sig', 'refresh_token', 'jwt', 'api-key'])(
    'replaces the value of %s too',
    (name) => {
      expect(redactUrl(`/x?a=1&${name}=s3cr3t`)).toBe(`/x?a=1&${name}=${REDACTED}`);
    },
  );

  it('replaces the signature and credentials of a presigned cloud URL (S3, Google, AWS v2)', () => {
    // The names OpenTelemetry's HTTP instrumentation redacts of its own: a span's url.query, which
    // this function's result replaces (tracing/otel-sdk.ts), must not show what it had hidden.
    const url =
      '/media/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260101' +
      '&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE&X-Amz-Signature=0123abcd' +
      '&X-Goog-Signature=beef&AWSAccessKeyId=AKIAOLD&Signature=c2ln&Expires=1';
    expect(redactUrl(url)).toBe(
      `/media/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${REDACTED}` +
        `&X-Amz-Security-Token=${REDACTED}&X-Amz-Signature=${REDACTED}` +
        `&X-Goog-Signature=${REDACTED}&AWSAccessKeyId=${REDACTED}&Signature=${REDACTED}&Expires=1`,
    );
  });

  it('reads a query from a # or a ; as well, as the router or a client may, and splits at ;', () => {
    // find-my-way takes `#` for the start of the query: this key authenticates.
    expect(redactUrl('/api/v1/products/p#x-api-key=pis_s3cr3t')).toBe(
      `/api/v1/products/p#x-api-key=${REDACTED}`,
    );
    expect(redactUrl('/api/v1/products/p;x-api-key=pis_s3cr3t')).toBe(
      `/api/v1/products/p;x-api-key=${REDACTED}`,
    );
    expect(redactUrl('/x?limit=5;token=t0k&cursor=c#key=k')).toBe(
      `/x?limit=5;token=${REDACTED}&cursor=c#key=${REDACTED}`,
    );
    expect(redactUrl('/x?limit=5&cursor=abc')).toBe('/x?limit=5&cursor=abc');
  });

  it.each([
    'x-api-key[]',
    'x-api-key[0]',
    'x-api-key%5B%5D',
    'x-api-key[a][b]',
    'x-api-key.a',
    '+x-api-key',
    'x-api-key%20',
    'x-api-key%00',
    'token%09',
    'auth[x-api-key]',
    'params[key]',
    'headers.x-api-key',
    'x-api-key%5B%5D%',
    'x%2Dapi%2Dkey[%ZZ]',
  ])('replaces the value of %s, a spelling a client or query parser may give the name', (name) => {
    // A client serialising its key as an array (PHP's http_build_query, axios, qs) writes
    // `x-api-key[]=`: the service does not take it as the key (401), but the log line kept it.
    const out = redactUrl(`/upload/image?${name}=pis_AbCd1234_s3cr3t&limit=5`);
    expect(out).toBe(`/upload/image?${name}=${REDACTED}&limit=5`);
    expect(out).not.toContain('s3cr3t');
  });

  it('survives malformed escapes', () => {
    expect(redactUrl('/x?%E0%A4%A=1&api_key=s')).toBe(`/x?%E0%A4%A=1&api_key=${REDACTED}`);
  });
});

describe(redactHeaders.name, () => {
  it('replaces the values of credential headers in a copy, in their places', () => {
    const headers = {
      host: 'h',
      authorization: 'Bearer t',
      'proxy-authorization': 'Basic dTpw',
      'x-api-key': 'pis_k',
      cookie: 'c=1',
    };
    const out = redactHeaders(headers);
    expect(Object.entries(out)).toEqual([
      ['host', 'h'],
      ['authorization', REDACTED],
      ['proxy-authorization', REDACTED],
      ['x-api-key', REDACTED],
      ['cookie', REDACTED],
    ]);
    expect(headers.authorization).toBe('Bearer t');
  });

  it('adds none that was not sent, and leaves headers without credentials as they are', () => {
    expect(redactHeaders({ host: 'h', 'x-api-key': 'k' })).toEqual({
      host: 'h',
      'x-api-key': REDACTED,
    });
    const plain = { host: 'h', accept: '*/*' };
    expect(redactHeaders(plain)).toBe(plain);
  });

  it.each([
    'x-amz-security-token',
    'x-auth-token',
    'x-access-token',
    'x-csrf-token',
    'x-client-secret',
    'x-api-secret',
    'x-password',
    'x-amz-signature',
    'x-goog-signature',
    'x-apikey',
    'x-api-token',
    'x-auth',
    'www-authenticate-me',
    'set-cookie',
    'x_api_key',
    'x-access-key',
    'dpop',
  ])('replaces the value of %s, a header some client sends a credential in', (name) => {
    // Credentials meant for another service (an S3 session token, an X-Auth-Token), sent here by
    // a client that sends them everywhere: the service reads none, but its log must not keep them.
    const out = redactHeaders({ host: 'h', [name]: 'FwoGZXIvYXdzEJr//secret' });
    expect(out).toEqual({ host: 'h', [name]: REDACTED });
  });

  it('keeps headers whose names only look alike', () => {
    const plain = { 'accept-encoding': 'gzip', 'x-request-id': 'r', 'content-length': '3' };
    expect(redactHeaders(plain)).toBe(plain);
  });
});

describe(requestIdFor.name, () => {
  const req = (header?: string): IncomingMessage =>
    ({ headers: header === undefined ? {} : { 'x-request-id': header } }) as IncomingMessage;

  it('keeps a plain caller-supplied id', () => {
    expect(requestIdFor(req('abc-123.def:9'))).toBe('abc-123.def:9');
  });

  it.each(['', 'has space', 'line\nbreak', 'x'.repeat(129), '{"json":1}'])(
    'replaces an unacceptable id (%j) with a UUID',
    (header) => {
      expect(requestIdFor(req(header))).toMatch(/^[0-9a-f-]{36}$/);
    },
  );

  it('generates a UUID when none is sent, and records it on the raw request', () => {
    const raw = req();
    const id = requestIdFor(raw);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((raw as IncomingMessage & { id?: string }).id).toBe(id);
  });
});
