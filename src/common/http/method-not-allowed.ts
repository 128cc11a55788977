import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';

/** The methods a route can be asked with, in the order an `Allow` header lists them. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * A request whose path has routes, but none for its method, is answered 405 `method_not_allowed`
 * with an `Allow` header naming the methods that path takes, OPTIONS included (RFC 9110
 * §15.5.6), where Fastify answers 404 as for a path nothing serves: `DELETE /api/v1/products` is a
 * wrong method, not a missing resource, and a client (or its developer) is told what would work.
 * `OPTIONS` on such a path (CORS off, or not a preflight) is answered 204 with the same `Allow`.
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
    const plainOptions = request.method === 'OPTIONS' && !isPreflight(request);
    // With CORS on, its catch-all route takes every OPTIONS; one that is no preflight is ours.
    const routed = request.routeOptions.url !== undefined && !(plainOptions && isCatchAll(request));
    if (routed) return done();
    const url = request.raw.url ?? '/';
    // `OPTIONS *` asks about the server as a whole (RFC 9110 §9.3.7): every method it takes.
    if (plainOptions && url === '*') return answerOptions(reply, METHODS);
    const path = url.split('?', 1)[0];
    const allowed = serves(path) ? METHODS.filter((method) => matches(method, url)) : [];
    if (allowed.length === 0) {
      // CORS's catch-all would answer 204 (or 400 to a bare OPTIONS) where nothing is served.
      if (!plainOptions || !isCatchAll(request)) return done();
      return done(new AppError('route_not_found', `No route matches OPTIONS ${path}.`));
    }
    // OPTIONS asks which methods the path takes (RFC 9110 §9.3.7): answered, not refused.
    if (request.method === 'OPTIONS') return answerOptions(reply, allowed);
    const allow = allowHeader(allowed);
    done(
      new AppError(
        'method_not_allowed',
        `${request.method} is not allowed on ${path}; it takes ${allow}.`,
        [],
        { Allow: allow },
      ),
    );
  });
}

/** A CORS preflight: OPTIONS from a browser naming its origin and the method it means to use. */
export function isPreflight({ headers }: FastifyRequest): boolean {
  return headers.origin !== undefined && headers['access-control-request-method'] !== undefined;
}

/** The route @fastify/cors adds for OPTIONS on every path. */
function isCatchAll(request: FastifyRequest): boolean {
  return request.routeOptions.url === '*' || request.routeOptions.url === '/*';
}

function answerOptions(reply: FastifyReply, allowed: readonly string[]): void {
  reply.code(204).header('Allow', allowHeader(allowed)).send();
}

/**
 * The `Allow` of a path, the same in a 405 and in the answer to OPTIONS: the methods its routes
 * take, and OPTIONS, which this hook answers on any path something serves (RFC 9110 §15.5.6: a
 * 405's lists the resource's supported methods; it named all but OPTIONS).
 */
function allowHeader(allowed: readonly string[]): string {
  return [...allowed, 'OPTIONS'].join(', ');
}
