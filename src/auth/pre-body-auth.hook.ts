import { Injectable, type OnModuleInit } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { RequestAuthenticator } from './request-authenticator.service';
import { routeAccessOf, sameAccess, type RouteAccess } from './route-access';
import { closeConnectionsOnUnreadBodies } from './unread-body-close';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route, set at start-up by PreBodyAuthHook. */
    routeAccess?: RouteAccess;
  }
}

type Handler = (...args: never[]) => unknown;

/** A parsed body that took at least this long to arrive has its caller asked again. */
export const SLOW_BODY_MS = 1000;

/**
 * A body Fastify parsed (JSON: a data URI of megabytes, bulk-import rows) may have taken minutes
 * to arrive: a key revoked or a user logged out meanwhile is refused before the handler runs
 * (request.readmit). One that came at once is not asked again: a query per request for nothing.
 * Bodies read as streams by their pipes (multipart uploads, CSV) are asked again by those pipes
 * once read.
 */
async function readmitAfterSlowBody(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.readmit === undefined) return;
  if (request.admittedAt === undefined || Date.now() - request.admittedAt < SLOW_BODY_MS) return;
  await request.readmit();
}

/**
 * Authenticates and authorises every Nest route in a Fastify `preParsing` hook: after the
 * `onRequest` hooks (request id, security and CORS headers, request logging), before a single
 * body byte is read. A refusal is answered at once, and with `Connection: close` (see
 * unread-body-close.ts), so the unread body is neither parsed nor drained: a caller without a
 * credential for the route cannot make the service hold more than its request headers.
 *
 * Each route's access is computed once, at start-up, from the same decorators the guard reads
 * (routeAccessOf), and put in the Fastify route's config. Fastify's routes are matched to
 * controller methods by the name Nest gives each route handler, `<Controller>.<method>`.
 */
@Injectable()
export class PreBodyAuthHook implements OnModuleInit {
  /** Handler names two controllers share with different access: they fail the start. */
  private conflicting = new Set<string>();
  /** Controller routes that install() expected and Fastify never registered. */
  private unseen = new Set<string>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly authenticator: RequestAuthenticator,
  ) {}

  /** Call before the application is initialised (Nest registers its routes then). */
  install(fastify: FastifyInstance): void {
    const access = this.accessByHandlerName();
    this.unseen = new Set(access.keys());
    fastify.addHook('onRoute', (route: RouteOptions) => {
      const found = access.get(route.handler.name);
      if (!found) return;
      this.unseen.delete(route.handler.name);
      route.config = { ...route.config, routeAccess: found };
    });
    fastify.addHook('preParsing', (request) => this.admit(request));
    fastify.addHook('preHandler', readmitAfterSlowBody);
    // A refusal is sent with the body unread: its connection is closed without reading it.
    closeConnectionsOnUnreadBodies(fastify);
  }

  /**
   * Runs once Nest has registered its routes, inside app.init(), so that a failure stops the
   * start. A route the hook could not match would still be guarded, but only after its body was
   * read: better no start than that protection lost unnoticed (a Nest upgrade renaming handlers).
   */
  onModuleInit(): void {
    const problems = [
      [this.conflicting, 'Controllers share a name but not their access rules'],
      [this.unseen, 'Routes not covered by pre-body authentication'],
    ] as const;
    const found = problems.filter(([names]) => names.size > 0);
    if (found.length > 0) {
      throw new Error(found.map(([names, what]) => `${what}: ${[...names].join(', ')}`).join('; '));
    }
  }

  private async admit(request: FastifyRequest): Promise<void> {
    const access = request.routeOptions.config.routeAccess;
    if (access) await this.authenticator.admit(request, access);
  }

  /** Every controller route's access, by `<Controller>.<method>`. */
  private accessByHandlerName(): Map<string, RouteAccess> {
    const access = new Map<string, RouteAccess>();
    for (const { instance, metatype, name } of this.discovery.getControllers()) {
      if (!instance || !metatype) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, Handler>;
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[method];
        if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        const key = `${name}.${method}`;
        const routeAccess = routeAccessOf(this.reflector, handler, metatype);
        const known = access.get(key);
        if (known && !sameAccess(known, routeAccess)) this.conflicting.add(key);
        access.set(key, routeAccess);
      }
    }
    for (const key of this.conflicting) access.delete(key);
    return access;
  }
}
