import {
  applyDecorators,
  Injectable,
  SetMetadata,
  UseInterceptors,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { map, type Observable } from 'rxjs';
import { ApiResponseHeaders } from '../../openapi/response-headers';

const CREATED_LOCATION = 'created-location';

/** Where a created resource is read, from the path the request was sent to and the answer. */
export type LocationOf = (requestPath: string, created: { id: string }) => string;

/** The default: the created resource is a child of the collection it was posted to. */
export const childOfCollection: LocationOf = (path, created) =>
  `${path.replace(/\/+$/, '')}/${encodeURIComponent(created.id)}`;

/** For `POST …/images/attach`: the image is read under `…/images/{id}`. */
export const siblingOfAction: LocationOf = (path, created) =>
  childOfCollection(path.replace(/\/[^/]+\/?$/, ''), created);

/**
 * Sets `Location` on the route's successful answer (RFC 9110 §10.2.2, for 201 Created): the
 * path where the created resource can be read, relative to this service. Declared in OpenAPI.
 */
export function CreatedLocation(locationOf: LocationOf = childOfCollection) {
  return applyDecorators(
    SetMetadata(CREATED_LOCATION, locationOf),
    UseInterceptors(CreatedLocationInterceptor),
    ApiResponseHeaders('Location'),
  );
}

@Injectable()
export class CreatedLocationInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const locationOf = this.reflector.get<LocationOf | undefined>(
      CREATED_LOCATION,
      context.getHandler(),
    );
    const http = context.switchToHttp();
    return next.handle().pipe(
      map((created: unknown) => {
        const id = (created as { id?: unknown } | null)?.id;
        if (locationOf && typeof id === 'string') {
          const path = http.getRequest<FastifyRequest>().url.split('?')[0];
          http.getResponse<FastifyReply>().header('location', locationOf(path, { id }));
        }
        return created;
      }),
    );
  }
}
