import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions, Response as InjectResponse } from 'light-my-request';

export type Credential =
  { bearer: string } | { apiKey: string } | { token: string } | { header: string } | undefined;

export function authHeaders(credential: Credential): Record<string, string> {
  if (!credential) return {};
  if ('bearer' in credential) return { authorization: `Bearer ${credential.bearer}` };
  if ('apiKey' in credential) return { 'x-api-key': credential.apiKey };
  if ('token' in credential) return { authorization: `Token ${credential.token}` };
  return { authorization: credential.header };
}

/** One request through the real HTTP stack (app.inject), with a credential. */
export function call(
  app: NestFastifyApplication,
  method: InjectOptions['method'],
  url: string,
  credential?: Credential,
  body?: unknown,
  extra: Partial<InjectOptions> = {},
): Promise<InjectResponse> {
  return app.inject({
    method,
    url,
    headers: { ...authHeaders(credential), ...(extra.headers ?? {}) },
    ...(body === undefined ? {} : { payload: body as InjectOptions['payload'] }),
    ...(extra.remoteAddress ? { remoteAddress: extra.remoteAddress } : {}),
    ...(extra.query ? { query: extra.query } : {}),
  });
}

export async function login(
  app: NestFastifyApplication,
  identity: { email?: string; username?: string },
  password: string,
): Promise<string> {
  const res = await call(app, 'POST', '/api/v1/auth/login', undefined, { ...identity, password });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return res.json<{ access_token: string }>().access_token;
}
