import {
  applyDecorators,
  createParamDecorator,
  SetMetadata,
  type ExecutionContext,
} from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { RequestContext, type Principal } from './principal';
import type { Role, Scope } from './roles';
import { ApiProblems } from '../openapi/problems';

export const IS_PUBLIC = 'auth:public';
export const REQUIRED_ROLE = 'auth:role';
export const REQUIRED_SCOPES = 'auth:scopes';
/** Marks public operations in the OpenAPI document (read back when the document is built). */
export const OPENAPI_PUBLIC_EXTENSION = 'x-public';

/** Marks operations only a user's session (a JWT) may call, for the OpenAPI document. */
export const OPENAPI_USER_SESSION_EXTENSION = 'x-user-session';

/** No credential needed (login, health, docs). Every other route is denied by default. */
export const Public = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(IS_PUBLIC, true), ApiExtension(OPENAPI_PUBLIC_EXTENSION, true));

/**
 * For a user's own session only (a JWT, not an API key, which no person holds): the document
 * offers the bearer scheme alone, and lists 403 user_session_required, which the route's service
 * answers (sessionUserId).
 */
export const UserSessionOnly = (): MethodDecorator =>
  applyDecorators(
    ApiExtension(OPENAPI_USER_SESSION_EXTENSION, true),
    ApiProblems('user_session_required'),
  );

/** The caller's role must be at least this one (admin > staff > user). */
export const MinRole = (role: Role): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(REQUIRED_ROLE, role), ApiProblems('insufficient_role'));

/** The caller's credential must carry every one of these scopes. */
export const RequireScopes = (...scopes: Scope[]): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(REQUIRED_SCOPES, scopes), ApiProblems('insufficient_scope'));

/** The authenticated caller as a {@link RequestContext}. */
export const Ctx = createParamDecorator((_: unknown, context: ExecutionContext): RequestContext => {
  const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
  if (!request.user) throw new Error('@Ctx() used on a route without authentication');
  return new RequestContext(request.user);
});
