import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { multipartNotTaken } from '../../common/http/multipart-routes';
import { DeliveryController } from './delivery.controller';
import { DeliveryService } from './delivery.service';
import { replyTransform, type TransformParams } from './transform-reply';

/** The name Nest gives the controller's route handler (`<Controller>.<method>`). */
const CONTROLLER_HANDLER = `${DeliveryController.name}.${DeliveryController.prototype.get.name}`;

/**
 * Serves `GET /transform/…` (and its HEAD) as a plain Fastify handler: the controller's route, as
 * Nest registers it, has its handler replaced in an `onRoute` hook (the way PreBodyAuthHook finds
 * it, by the handler's name). The route is public, takes no body and is, with /media, the most
 * frequent request, which Nest's layer (the global guard, interceptors and pipes, and their
 * observables) made cost a tenth more, as it did /media (media.route.ts). What remains the same:
 * the route itself (its path, its config, so every Fastify hook: request id, pre-body
 * authentication, security headers, logging, metrics by route, tracing), a multipart request
 * refused as the global interceptor refuses it, and a thrown AppError answered by the
 * application's error handler (problem+json). The controller stays for the OpenAPI document, and
 * answers through the same {@link replyTransform} should its handler ever be Nest's again.
 */
@Injectable()
export class TransformRoute implements OnModuleInit {
  private installed = false;
  private replaced = false;

  constructor(private readonly delivery: DeliveryService) {}

  /** Call before the application is initialised (Nest registers its routes then). */
  install(fastify: FastifyInstance): void {
    this.installed = true;
    fastify.addHook('onRoute', (route: RouteOptions) => {
      if (route.handler.name !== CONTROLLER_HANDLER) return;
      const serve = (request: FastifyRequest, reply: FastifyReply) => this.serve(request, reply);
      // Under the same name, for any later hook that finds routes by it.
      route.handler = Object.defineProperty(serve, 'name', { value: CONTROLLER_HANDLER });
      this.replaced = true;
    });
  }

  /** A Nest upgrade that names handlers otherwise would leave the route slower: no start. */
  onModuleInit(): void {
    if (this.installed && !this.replaced) {
      throw new Error(`The transform route (${CONTROLLER_HANDLER}) was not found to serve it`);
    }
  }

  private async serve(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // As the global interceptor answers a multipart request to any route that takes none.
    if (request.isMultipart()) throw multipartNotTaken();
    await replyTransform(this.delivery, request.params as TransformParams, request, reply);
  }
}
