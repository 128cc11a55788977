import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors/app.error';

/** The methods a route can be asked with, in the order an `Allow` header lists them. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * A request whose path has routes, but none for its method, is answered 405 `method_not_allowed`
 * with an `Allow` header naming the methods that path takes (RFC 9110 §15.5.6), where Fastify
 * answers 404 as for a path nothing serves: `DELETE /api/v1/products` is a wrong method, not a
 * missing resource, and a client (or its developer) is told what would work. `OPTIONS` on such a
 * path (CORS off, or not a preflight) is answered 204 with the same `Allow`.
 *
 * Fastify's own router says which methods match the path (`findRoute`, the lookup it routes
 * with; HEAD is there for every GET). OPTIONS is not asked: CORS answers it on every path.
 * `serves`: whether the path is one this process serves at all (a worker, only its probes).
 *
 * A hook of the not-found route only (nothing of a 404 changes otherwise), added after the hooks
 * whose headers every answer carries (request id, security headers): an error in this hook skips
 * the hooks after it.
 */
export function answerWrongMethods(
  instance: FastifyInstance,
  serves: (path: string) => boolean = () => true,
): void {
  const matches = (method: string, url: string): boolean => {
    try {
      return instance.findRoute({ method, url }) !== null;
    } catch {
      return false; // a path the router cannot decode: Fastify's own answer stands
    }
  };
  instance.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.url !== undefined) return done();
    const url = request.raw.url ?? '/';
    const path = url.split('?', 1)[0];
    const allowed = serves(path) ? METHODS.filter((method) => matches(method, url)) : [];
    if (allowed.length === 0) return done();
    // OPTIONS asks which methods the path takes (RFC 9110 §9.3.7): answered, not refused.
    if (request.method === 'OPTIONS') {
      reply
        .code(204)
        .header('Allow', [...allowed, 'OPTIONS'].join(', '))
        .send();
      return;
    }
    done(
      new AppError(
        'method_not_allowed',
        `${request.method} is not allowed on ${path}; it takes ${allowed.join(', ')}.`,
        [],
        { Allow: allowed.join(', ') },
      ),
    );
  });
}
