import type { FastifyRequest } from 'fastify';
import { parseApiKeyToken } from './api-key-token';

/** The query parameter an API key may come in, where API_KEY_QUERY_PARAM allows it. */
export const API_KEY_QUERY_NAME = 'x-api-key';

export type PresentedCredential =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string }
  | { kind: 'api_key'; key: string }
  | { kind: 'malformed'; reason: string };

/**
 * A bearer token: a JWT, or an API key (`pis_…`, which no JWT looks like), for clients that hold
 * one long-lived token and send it as `Bearer` (Inventorum's machine clients).
 */
function bearer(token: string): PresentedCredential {
  return parseApiKeyToken(token) ? { kind: 'api_key', key: token } : { kind: 'bearer', token };
}

/**
 * Which credential a request carries: `Authorization: Bearer <JWT or API key>`,
 * `Authorization: Token <key>`, `X-API-Key: <key>`, or (only when enabled) the `x-api-key` query
 * parameter; an empty `Authorization` is none. Two different credentials at once are refused rather than guessed between; the same
 * one sent in several of those places is one credential, read as the first place names it (a
 * generated client given one token fills every scheme the API document offers: `Authorization:
 * Bearer` and `X-API-Key` alike).
 */
export function presentedCredential(
  request: FastifyRequest,
  allowQueryKey: boolean,
): PresentedCredential {
  const found: { raw: string; credential: PresentedCredential }[] = [];
  // An empty Authorization (`Authorization:` with nothing in it, as a client or a proxy may add)
  // carries no credential: it is not one, so neither malformed nor a second beside X-API-Key,
  // the only credential Closient's and the back-office uploader's clients know.
  const authorizations = headerLines(request, 'authorization').filter((v) => v.trim() !== '');
  if (authorizations.some((value) => value !== authorizations[0])) return TWO_CREDENTIALS;
  const authorization = authorizations[0];
  if (authorization !== undefined) {
    const match = /^(\S+)\s+(\S+)\s*$/.exec(authorization);
    const scheme = match?.[1].toLowerCase();
    if (match && scheme === 'bearer') found.push({ raw: match[2], credential: bearer(match[2]) });
    else if (match && scheme === 'token')
      found.push({ raw: match[2], credential: { kind: 'api_key', key: match[2] } });
    else
      return {
        kind: 'malformed',
        reason: 'Authorization must be "Bearer <token>" or "Token <key>".',
      };
  }
  // Each line on its own: Node joins repeated ones into one value ("k1, k2"), which would be
  // refused as an unknown key rather than as two credentials.
  for (const line of headerLines(request, 'x-api-key')) {
    const key = line.trim();
    found.push({ raw: key, credential: { kind: 'api_key', key } });
  }
  if (allowQueryKey) {
    const queryKey = (request.query as Record<string, unknown> | undefined)?.[API_KEY_QUERY_NAME];
    // Named twice, the query's parser gives a list: each is a credential sent (the same key twice
    // is that key, as with Authorization; two keys are refused), not none ("needs a credential").
    const queryKeys = Array.isArray(queryKey) ? queryKey : [queryKey];
    for (const key of queryKeys) {
      if (typeof key === 'string') found.push({ raw: key, credential: { kind: 'api_key', key } });
    }
  }
  if (found.length === 0) return { kind: 'none' };
  if (found.some(({ raw }) => raw !== found[0].raw)) return TWO_CREDENTIALS;
  return found[0].credential;
}

const TWO_CREDENTIALS: PresentedCredential = {
  kind: 'malformed',
  reason:
    'Send exactly one credential: two different ones came (in Authorization, X-API-Key or the query).',
};

/**
 * Every line of this header (lower-case `name`) the request carried, as sent. Node keeps only the
 * first `Authorization` in `request.headers` and drops the others, so a second one (which a proxy
 * in front may be the one to read) would otherwise go unseen; and it joins repeated `X-API-Key`
 * lines with ", ".
 */
function headerLines(request: FastifyRequest, name: string): string[] {
  const raw = request.raw.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === name.length && raw[i].toLowerCase() === name) values.push(raw[i + 1]);
  }
  return values;
}
