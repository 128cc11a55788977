import type { ArgumentMetadata, PipeTransform, Type } from '@nestjs/common';
import { PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';

/**
 * The checks a route's handler makes of its path alone (a malformed id: 400 invalid_id), found
 * at start-up in the route's own parameters: the pipes of its `@Param()`s and its parameter
 * decorators. `Expect: 100-continue` runs them before inviting the body (host-and-expect.ts), so
 * that check and the handler's are the same code and cannot disagree: a `:id` that no pipe reads
 * as an id is not refused with Expect either.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's checks of its path, set at start-up by checkPathsBeforeBody. */
    pathChecks?: readonly PathCheck[];
  }
}

/** Throws the handler's refusal (an AppError) for a path the route would refuse. */
export type PathCheck = (request: FastifyRequest, reply: FastifyReply) => void;

/** Pipe classes and parameter decorators' factories marked by readsPathOnly. */
const pathOnly = new WeakSet<object>();

/**
 * Marks a pipe class, or the factory of a parameter decorator, as one that reads the path alone:
 * synchronous, without a service, the body or anything of the request but its parameters. Only
 * those are run before the body; any other check of the route is still made by its handler.
 */
export function readsPathOnly<T extends object>(target: T): T {
  pathOnly.add(target);
  return target;
}

/** A route argument as Nest records it (`@Param()`: data and pipes; a custom one: its factory). */
interface RouteArg {
  data?: unknown;
  pipes?: (Type<PipeTransform> | PipeTransform)[];
  factory?: (data: unknown, context: ExecutionContextHost) => unknown;
}

type Handler = (...args: never[]) => unknown;

/**
 * Puts each Nest route's path checks in its Fastify route's config. Call before the application
 * is initialised (Nest registers its routes then). Routes are matched by the name Nest gives each
 * route handler, `<Controller>.<method>`, as PreBodyAuthHook matches them (which fails the start
 * if that naming ever changes).
 */
export function checkPathsBeforeBody(app: NestFastifyApplication): void {
  const checks = pathChecksByHandlerName(app.get(DiscoveryService), app.get(MetadataScanner));
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRoute', (route: RouteOptions) => {
      const found = checks.get(route.handler.name);
      if (found) route.config = { ...route.config, pathChecks: found };
    });
}

/** The path checks of every controller route that has some, by `<Controller>.<method>`. */
function pathChecksByHandlerName(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
): Map<string, PathCheck[]> {
  const checks = new Map<string, PathCheck[]>();
  for (const { instance, metatype, name } of discovery.getControllers()) {
    if (!instance || !metatype) continue;
    const prototype = Object.getPrototypeOf(instance) as Record<string, Handler>;
    for (const method of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[method];
      if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      const found = pathChecksOf(metatype as Type, method, handler);
      if (found.length > 0) checks.set(`${name}.${method}`, found);
    }
  }
  return checks;
}

/** The checks of a controller method's path, in the order of its parameters. */
export function pathChecksOf(controller: Type, method: string, handler: Handler): PathCheck[] {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {}) as Record<
    string,
    RouteArg
  >;
  const checks: PathCheck[] = [];
  for (const [key, arg] of Object.entries(args)) {
    const pipes = leadingPathPipes(arg.pipes ?? []);
    const { factory } = arg;
    if (factory) {
      if (!pathOnly.has(factory)) continue;
      const metadata: ArgumentMetadata = { type: 'custom', data: arg.data as string | undefined };
      checks.push((request, reply) => {
        const context = new ExecutionContextHost([request, reply], controller, handler);
        runPipes(pipes, factory(arg.data, context), metadata);
      });
    } else if (key.startsWith(`${RouteParamtypes.PARAM}:`) && typeof arg.data === 'string') {
      if (pipes.length === 0) continue;
      const metadata: ArgumentMetadata = { type: 'param', data: arg.data };
      checks.push((request) => {
        const params = request.params as Record<string, string | undefined> | undefined;
        runPipes(pipes, params?.[metadata.data!], metadata);
      });
    }
  }
  return checks;
}

/**
 * The pipes of a parameter up to the first that does not read the path alone (its result is the
 * next one's input: what follows it is left to the handler), as instances.
 */
function leadingPathPipes(pipes: RouteArg['pipes'] & object): PipeTransform[] {
  const leading: PipeTransform[] = [];
  for (const pipe of pipes) {
    if (typeof pipe === 'function') {
      if (!pathOnly.has(pipe)) break;
      leading.push(new pipe());
    } else {
      if (!pathOnly.has(pipe.constructor)) break;
      leading.push(pipe);
    }
  }
  return leading;
}

function runPipes(pipes: PipeTransform[], value: unknown, metadata: ArgumentMetadata): void {
  pipes.reduce<unknown>((current, pipe) => pipe.transform(current, metadata), value);
}
