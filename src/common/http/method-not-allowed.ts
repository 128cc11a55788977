import type { FastifyInstance } from 'fastify';
import FindMyWay from 'find-my-way';
import { AppError } from '../errors/app.error';

/** The methods a route can be asked with, in the order an `Allow` header lists them. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
type Method = (typeof METHODS)[number];

export interface WrongMethodOptions {
  /** The router's own `maxParamLength`: a path the router matches must match here alike. */
  maxParamLength: number;
  /** Whether a route counts (a worker serves only its probes); every route by default. */
  serves?: (url: string) => boolean;
}

/** Which methods each route path is served under, as a router would match a request's URL. */
export interface RouteMethods {
  /** The methods some route takes `url` (a request target, query included) under. */
  allowedFor(url: string): Method[];
}

/**
 * Records every route Fastify adds from now on (call before any route is added), for
 * `answerWrongMethods`.
 *
 * Fastify's router does not say which methods a path has, so a second router of the same library
 * (find-my-way, with the options that bear on matching) holds every route's path under each of
 * its methods. OPTIONS is left out: CORS answers it on every path, so it would make every path
 * "exist".
 */
export function recordRouteMethods(
  instance: FastifyInstance,
  options: WrongMethodOptions,
): RouteMethods {
  const router = FindMyWay({ maxParamLength: options.maxParamLength });
  const serves = options.serves ?? (() => true);
  const add = (method: Method, url: string): void => {
    if (!router.hasRoute(method, url)) router.on(method, url, () => undefined);
  };
  instance.addHook('onRoute', (route) => {
    if (!serves(route.url)) return;
    for (const method of [route.method].flat()) {
      if (!isMethod(method)) continue;
      add(method, route.url);
      // A GET route answers HEAD (Fastify exposes it), declared or not.
      if (method === 'GET') add('HEAD', route.url);
    }
  });
  const matches = (method: Method, url: string): boolean => {
    try {
      return router.find(method, url) !== null;
    } catch {
      return false; // a path the router cannot decode: Fastify's own answer stands
    }
  };
  return { allowedFor: (url) => METHODS.filter((method) => matches(method, url)) };
}

/**
 * A request whose path has routes, but none for its method, is answered 405 `method_not_allowed`
 * with an `Allow` header naming the methods that path takes (RFC 9110 §15.5.6), where Fastify
 * answers 404 as for a path nothing serves: `DELETE /api/v1/products` is a wrong method, not a
 * missing resource, and a client (or its developer) is told what would work.
 *
 * OPTIONS on such a path (CORS off, or not a preflight) is answered 204 with the same `Allow`.
 *
 * A hook of the not-found route only (nothing of a 404 changes otherwise), added after the hooks
 * whose headers every answer carries (request id, security headers): an error in this hook skips
 * the hooks after it.
 */
export function answerWrongMethods(instance: FastifyInstance, routes: RouteMethods): void {
  instance.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.url !== undefined) return done();
    const url = request.raw.url ?? '/';
    const allowed = routes.allowedFor(url);
    if (allowed.length === 0) return done();
    // OPTIONS asks which methods the path takes (RFC 9110 §9.3.7): answered, not refused.
    if (request.method === 'OPTIONS') {
      reply
        .code(204)
        .header('Allow', [...allowed, 'OPTIONS'].join(', '))
        .send();
      return;
    }
    const path = url.split('?', 1)[0];
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

function isMethod(method: string): method is Method {
  return (METHODS as readonly string[]).includes(method);
}
