import helmet from '@fastify/helmet';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** The API serves JSON only: nothing may load, frame or run from its responses. */
export const API_CSP =
  "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Swagger UI needs its own scripts, inline styles and bootstrap script, and calls the API. */
const DOCS_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; " +
  "base-uri 'self'; form-action 'self'";

/** Helmet's options, shared with the answers to router errors, which no hook sees. */
export const HELMET_OPTIONS = {
  contentSecurityPolicy: false,
  // Product images are embedded by storefronts on other origins.
  crossOriginResourcePolicy: { policy: 'cross-origin' },
} as const;

export function isDocsPath(url: string, docsPath: string): boolean {
  const path = url.split('?')[0];
  return (
    path === `/${docsPath}` || path.startsWith(`/${docsPath}/`) || path.startsWith(`/${docsPath}-`)
  );
}

/** Helmet's headers everywhere; the CSP relaxed for the Swagger UI pages only. */
export async function registerSecurityHeaders(
  app: NestFastifyApplication,
  docsPath: string,
): Promise<void> {
  await app.register(helmet, HELMET_OPTIONS);
  app
    .getHttpAdapter()
    .getInstance()
    // Not async: every response passes here, and a promise per hook is a microtask per hook.
    .addHook('onSend', (request, reply, _payload, done) => {
      if (!reply.hasHeader('content-security-policy')) {
        reply.header(
          'content-security-policy',
          isDocsPath(request.url, docsPath) ? DOCS_CSP : API_CSP,
        );
      }
      done();
    });
}
