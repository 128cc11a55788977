import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions, Response as InjectResponse } from 'light-my-request';
import { multipart } from './multipart';

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
  const res = await attemptLogin(app, identity, password);
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return res.json<{ access_token: string }>().access_token;
}

/**
 * One login attempt, its answer whatever it is; from `remoteAddress` when given (the login limits
 * count per address and per account).
 */
export function attemptLogin(
  app: NestFastifyApplication,
  identity: { email?: string; username?: string },
  password: string,
  remoteAddress?: string,
): Promise<InjectResponse> {
  const options = remoteAddress === undefined ? undefined : { remoteAddress };
  return call(app, 'POST', '/api/v1/auth/login', undefined, { ...identity, password }, options);
}

/** What {@link uploadToNewProduct} answers: the image's and its product's ids, and the 201's body. */
export interface UploadedImage {
  id: string;
  productId: string;
  url: string;
  body: Record<string, unknown>;
}

/**
 * A new product (`name`) with `file` uploaded to its gallery, with the form's `fields` (title, alt
 * text, description…); expects the upload's 201.
 */
export async function uploadToNewProduct(
  app: NestFastifyApplication,
  credential: Credential,
  file: Buffer,
  name = 'Delivered',
  contentType = 'image/jpeg',
  fields: Record<string, string> = {},
): Promise<UploadedImage> {
  const product = await call(app, 'POST', '/api/v1/products', credential, { name });
  const productId = product.json<{ id: string }>().id;
  const form = multipart(fields, [{ data: file, contentType }]);
  const res = await call(
    app,
    'POST',
    `/api/v1/products/${productId}/images`,
    credential,
    form.payload,
    {
      headers: form.headers,
    },
  );
  if (res.statusCode !== 201) throw new Error(`upload failed: ${res.statusCode} ${res.body}`);
  const body = res.json<Record<string, unknown> & { id: string; url: string }>();
  return { id: body.id, productId, url: body.url, body };
}
