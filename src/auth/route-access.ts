import type { Reflector } from '@nestjs/core';
import { AppError } from '../common/errors/app.error';
import { IS_PUBLIC, REQUIRED_ROLE, REQUIRED_SCOPES } from './decorators';
import type { Principal } from './principal';
import { roleAtLeast, type Role, type Scope } from './roles';

/** Who may call a route, as its @Public(), @MinRole() and @RequireScopes() say. */
export interface RouteAccess {
  public: boolean;
  role?: Role;
  scopes: readonly Scope[];
}

/** A handler or a controller class, as the Reflector reads them. */
type MetadataTarget = Parameters<Reflector['getAllAndOverride']>[1][number];

/**
 * A route's access from its decorators, the handler's overriding the controller's. Both the
 * pre-body hook (at start-up, for every route) and the guard (per request) read it here.
 */
export function routeAccessOf(
  reflector: Reflector,
  handler: MetadataTarget,
  controller: MetadataTarget,
): RouteAccess {
  const targets = [handler, controller];
  return {
    public: reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, targets) === true,
    role: reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, targets),
    scopes: reflector.getAllAndOverride<Scope[] | undefined>(REQUIRED_SCOPES, targets) ?? [],
  };
}

export function sameAccess(a: RouteAccess, b: RouteAccess): boolean {
  return (
    a.public === b.public &&
    a.role === b.role &&
    a.scopes.length === b.scopes.length &&
    a.scopes.every((s) => b.scopes.includes(s))
  );
}

/** 403 unless an authenticated caller holds the route's role and every one of its scopes. */
export function authorise(principal: Principal, access: RouteAccess): void {
  if (access.role && !roleAtLeast(principal.role, access.role)) {
    throw new AppError('insufficient_role', `This action needs the ${access.role} role.`);
  }
  requireScopes(principal, access.scopes, 'Missing scope');
}

/**
 * 403 unless the caller holds every scope it would give: a credential grants nothing it does not
 * hold. An API key with only `api_keys:manage` could otherwise make a key with every scope, and
 * one with only `users:manage` an administrator, or a password for one, to log in with. `what`
 * says what would have given them (a key's scopes, a user's role).
 */
export function authoriseGrant(
  principal: Principal,
  granted: readonly Scope[],
  what: string,
): void {
  requireScopes(principal, granted, `${what} would give scopes your credential lacks`);
}

function requireScopes(principal: Principal, scopes: readonly Scope[], message: string): void {
  const missing = scopes.filter((s) => !principal.scopes.includes(s));
  if (missing.length > 0) {
    throw new AppError(
      'insufficient_scope',
      `${message}: ${missing.join(', ')}.`,
      [],
      {},
      {
        required_scopes: missing,
      },
    );
  }
}
