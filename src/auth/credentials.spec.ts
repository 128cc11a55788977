import type { FastifyRequest } from 'fastify';
import { newApiKeyToken } from './api-key-token';
import { presentedCredential } from './credentials';

/** A request as Fastify gives it: `headers` as Node keeps them, and every header as sent. */
function request(
  headers: Record<string, string>,
  query: Record<string, string> = {},
  rawHeaders = Object.entries(headers).flat(),
) {
  return { headers, query, raw: { rawHeaders } } as unknown as FastifyRequest;
}

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

describe(presentedCredential.name, () => {
  it('reads a JWT from Authorization: Bearer', () => {
    expect(presentedCredential(request({ authorization: `Bearer ${JWT}` }), false)).toEqual({
      kind: 'bearer',
      token: JWT,
    });
  });

  it('reads an API key sent as a bearer token as an API key (any case of the scheme)', () => {
    const { key } = newApiKeyToken();
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      expect(presentedCredential(request({ authorization: `${scheme} ${key}` }), false)).toEqual({
        kind: 'api_key',
        key,
      });
    }
  });

  it('leaves a bearer token that only starts like a key to the JWT check (it is refused there)', () => {
    expect(presentedCredential(request({ authorization: 'Bearer pis_short_x' }), false)).toEqual({
      kind: 'bearer',
      token: 'pis_short_x',
    });
  });

  it('reads Token and X-API-Key as API keys, and the query key only when enabled', () => {
    expect(presentedCredential(request({ authorization: 'Token k1' }), false)).toEqual({
      kind: 'api_key',
      key: 'k1',
    });
    expect(presentedCredential(request({ 'x-api-key': ' k2 ' }), false)).toEqual({
      kind: 'api_key',
      key: 'k2',
    });
    const query = request({}, { 'x-api-key': 'k3' });
    expect(presentedCredential(query, false)).toEqual({ kind: 'none' });
    expect(presentedCredential(query, true)).toEqual({ kind: 'api_key', key: 'k3' });
  });

  it('reads an empty Authorization as none: X-API-Key beside it is the credential', () => {
    expect(presentedCredential(request({ authorization: '' }), false)).toEqual({ kind: 'none' });
    expect(presentedCredential(request({ authorization: ' ', 'x-api-key': 'k2' }), false)).toEqual({
      kind: 'api_key',
      key: 'k2',
    });
    expect(presentedCredential(request({ authorization: 'Bearer' }), false)).toMatchObject({
      kind: 'malformed',
    });
  });

  it('refuses two different credentials', () => {
    const { key } = newApiKeyToken();
    const other = newApiKeyToken().key;
    const refused = {
      kind: 'malformed',
      reason:
        'Send exactly one credential: two different ones came (in Authorization, X-API-Key or the query).',
    };
    expect(
      presentedCredential(request({ authorization: `Bearer ${key}`, 'x-api-key': other }), false),
    ).toEqual(refused);
    expect(
      presentedCredential(request({ authorization: 'Bearer a.b.c', 'x-api-key': key }), false),
    ).toEqual(refused);
    const both = request({ 'x-api-key': key }, { 'x-api-key': other });
    expect(presentedCredential(both, true)).toEqual(refused);
    // Ignored when the query key is not enabled.
    expect(presentedCredential(both, false)).toEqual({ kind: 'api_key', key });
  });

  it('sees a second Authorization header, which Node leaves out of the headers', () => {
    const { key } = newApiKeyToken();
    const twice = (second: string) =>
      request({ authorization: `Token ${key}` }, {}, [
        'Authorization',
        `Token ${key}`,
        'authorization',
        second,
      ]);
    expect(presentedCredential(twice('Bearer garbage'), false)).toMatchObject({
      kind: 'malformed',
    });
    expect(presentedCredential(twice(`Token ${key}`), false)).toEqual({ kind: 'api_key', key });
  });

  it('sees every X-API-Key header line, which Node joins into one value', () => {
    const { key } = newApiKeyToken();
    const other = newApiKeyToken().key;
    const lines = (...values: string[]) =>
      request(
        { 'x-api-key': values.join(', ') },
        {},
        values.flatMap((value) => ['X-API-Key', value]),
      );
    expect(presentedCredential(lines(key, other), false)).toEqual({
      kind: 'malformed',
      reason:
        'Send exactly one credential: two different ones came (in Authorization, X-API-Key or the query).',
    });
    expect(presentedCredential(lines(key, ` ${key}`), false)).toEqual({ kind: 'api_key', key });
  });

  it('takes the same credential sent in several places as one, read as Authorization says', () => {
    const { key } = newApiKeyToken();
    expect(
      presentedCredential(request({ authorization: `Bearer ${key}`, 'x-api-key': key }), false),
    ).toEqual({ kind: 'api_key', key });
    // A JWT also sent as X-API-Key (a generated client filling every scheme): still a JWT.
    expect(
      presentedCredential(request({ authorization: 'Bearer a.b.c', 'x-api-key': 'a.b.c' }), false),
    ).toEqual({ kind: 'bearer', token: 'a.b.c' });
    expect(
      presentedCredential(
        request({ authorization: `Token ${key}`, 'x-api-key': ` ${key} ` }, { 'x-api-key': key }),
        true,
      ),
    ).toEqual({ kind: 'api_key', key });
  });

  it('refuses other Authorization schemes', () => {
    expect(presentedCredential(request({ authorization: 'Basic dTpw' }), false).kind).toBe(
      'malformed',
    );
  });
});
