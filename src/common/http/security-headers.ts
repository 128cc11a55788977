import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';

/** The API serves JSON only: nothing may load, frame or run from its responses. */
export const API_CSP =
  "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Swagger UI needs its own scripts (its bootstrap, swagger-ui-init.js, is a file too: nothing
 * inline runs, so an HTML injection into a page it renders runs no script), inline styles, and
 * calls the API.
 */
const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; " +
  "base-uri 'self'; form-action 'self'";

/** Helmet's options, shared with the answers to router errors, which no hook sees. */
export const HELMET_OPTIONS = {
  contentSecurityPolicy: false,
  // Product images are embedded by storefronts on other origins.
  crossOriginResourcePolicy: { policy: 'cross-origin' },
  // Every CSP here says frame-ancestors 'none'; a browser that reads only this header must be
  // told the same, not helmet's SAMEORIGIN (a page of our origin could frame the console).
  xFrameOptions: { action: 'deny' },
} as const;

export function isDocsPath(url: string, docsPath: string): boolean {
  const path = url.split('?')[0];
  return (
    path === `/${docsPath}` || path.startsWith(`/${docsPath}/`) || path.startsWith(`/${docsPath}-`)
  );
}

/**
 * Helmet's middleware with HELMET_OPTIONS, built once: it sets the same headers on every response
 * (@fastify/helmet built it anew for each request, through two async hooks, for per-route options
 * and CSP nonces the API does not use). Also used for answers no hook sees (framework-errors.ts).
 */
export const securityHeaders = helmet(HELMET_OPTIONS);

/** What helmet's middleware does to a response: the headers it sets, in order, and removes. */
export interface HelmetEffect {
  set: ReadonlyArray<readonly [string, string]>;
  removed: readonly string[];
}

/**
 * The headers {@link securityHeaders} sets and removes, collected once from the middleware itself
 * (they depend on nothing in the request): every response pays a loop of `setHeader`, where the
 * middleware ran a dozen functions, each through a callback, for the same result.
 */
export function helmetEffect(): HelmetEffect {
  const set: Array<readonly [string, string]> = [];
  const removed: string[] = [];
  const collector = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      set.push([name, String(value)]);
    },
    removeHeader: (name: string) => {
      removed.push(name);
    },
  };
  let failed: Error | undefined;
  securityHeaders({} as IncomingMessage, collector as unknown as ServerResponse, (error) => {
    failed = error as Error | undefined;
  });
  if (failed) throw failed;
  return { set, removed };
}

/**
 * Whether the request carries a credential: an `Authorization` or `X-API-Key` header, or an
 * `x-api-key` query parameter (the back-office uploader's), as the query is parsed (its names
 * percent-decoded: `?x%2Dapi-key=` authenticates too) or, for a request answered before its query
 * was parsed, as the URL spells it (the router also reads a query after a `#`). Whether it is
 * valid does not matter here.
 */
function carriesCredential(request: FastifyRequest): boolean {
  const { headers } = request;
  if (headers.authorization !== undefined || headers['x-api-key'] !== undefined) return true;
  // The URL, not the parsed query: authentication takes a query key out of it (the route's
  // parameters are not the credential). However its name is percent-encoded.
  const search = request.url.indexOf('?');
  if (search === -1) return false;
  if (/[?#&;]x(?:-|%2d)api(?:-|%2d)key=/i.test(request.url)) return true;
  return new URLSearchParams(request.url.slice(search + 1)).has('x-api-key');
}

/**
 * Helmet's headers everywhere; the CSP relaxed for the Swagger UI pages only. An answer to a
 * request with a credential is `Cache-Control: no-store` unless its route says otherwise (the
 * delivery routes): many API URLs are the same in every organisation (`/api/v1/products`,
 * `…/by-gtin/…`), and a shared cache (a CDN, Varnish) keeps an `X-API-Key` answer (RFC 9111
 * keeps it from storing only an `Authorization` one) for the next organisation asking. A promise,
 * as when it registered @fastify/helmet (createApp awaits it).
 */
export function registerSecurityHeaders(
  app: NestFastifyApplication,
  docsPath: string,
): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  const { set, removed } = helmetEffect();
  fastify.addHook('onRequest', (_request, reply, done) => {
    const raw = reply.raw;
    for (const name of removed) raw.removeHeader(name);
    for (const [name, value] of set) raw.setHeader(name, value);
    done();
  });
  fastify
    // Not async: every response passes here, and a promise per hook is a microtask per hook.
    .addHook('onSend', (request, reply, _payload, done) => {
      if (!reply.hasHeader('content-security-policy')) {
        reply.header(
          'content-security-policy',
          isDocsPath(request.url, docsPath) ? DOCS_CSP : API_CSP,
        );
      }
      if (!reply.hasHeader('cache-control') && carriesCredential(request)) {
        reply.header('cache-control', 'no-store');
      }
      done();
    });
  return Promise.resolve();
}
