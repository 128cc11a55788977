import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../common/errors/app.error';
import type { ErrorCode } from '../common/errors/error-codes';
import { EnvironmentVariables } from '../config/env.validation';
import { presentedCredential } from './credentials';
import { IS_PUBLIC, REQUIRED_ROLE, REQUIRED_SCOPES } from './decorators';
import type { Principal } from './principal';
import { PrincipalService } from './principal.service';
import { roleAtLeast, type Role, type Scope } from './roles';

const REALM = 'product-image-service';

function unauthenticated(code: ErrorCode, detail: string, bearerError?: string): AppError {
  const bearer = `Bearer realm="${REALM}"${bearerError ? `, error="${bearerError}"` : ''}`;
  return new AppError(code, detail, [], {
    'WWW-Authenticate': `${bearer}, Token realm="${REALM}"`,
  });
}

/** A strategy's own failure (the database is down, say): a 500, not a 401. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

class JwtAuthGuard extends AuthGuard('jwt') {
  override handleRequest<T = Principal>(err: unknown, user: T | false): T {
    if (err) throw asError(err);
    if (!user) {
      throw unauthenticated(
        'invalid_token',
        'The bearer token is malformed, expired, wrongly signed, or its user is disabled or gone.',
        'invalid_token',
      );
    }
    return user;
  }
}

/**
 * The one global guard. Default deny: every route needs a credential unless marked @Public().
 * It authenticates the single credential presented (a JWT through passport-jwt, an API key by
 * its hash), then enforces @MinRole() and @RequireScopes(): 401 for a missing or bad credential
 * (with WWW-Authenticate), 403 for a valid caller without the role or scope.
 */
@Injectable()
export class CredentialsGuard implements CanActivate {
  private readonly jwt = new JwtAuthGuard();

  constructor(
    private readonly reflector: Reflector,
    private readonly env: EnvironmentVariables,
    private readonly principals: PrincipalService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    const credential = presentedCredential(request, this.env.API_KEY_QUERY_PARAM);
    switch (credential.kind) {
      case 'none':
        throw unauthenticated('authentication_required', 'This endpoint needs a credential.');
      case 'malformed':
        throw unauthenticated('authentication_required', credential.reason, 'invalid_request');
      case 'bearer':
        await this.jwt.canActivate(context);
        break;
      case 'api_key': {
        const principal = await this.principals.forApiKey(credential.key);
        if (!principal) {
          throw unauthenticated('invalid_api_key', 'The API key is unknown, expired or revoked.');
        }
        request.user = principal;
        break;
      }
    }
    const principal = request.user;
    if (!principal) throw unauthenticated('authentication_required', 'Authentication failed.');

    const role = this.reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, targets);
    if (role && !roleAtLeast(principal.role, role)) {
      throw new AppError('insufficient_role', `This action needs the ${role} role.`);
    }
    const scopes = this.reflector.getAllAndOverride<Scope[] | undefined>(REQUIRED_SCOPES, targets);
    const missing = (scopes ?? []).filter((s) => !principal.scopes.includes(s));
    if (missing.length > 0) {
      throw new AppError(
        'insufficient_scope',
        `Missing scope: ${missing.join(', ')}.`,
        [],
        {},
        {
          required_scopes: missing,
        },
      );
    }
    return true;
  }
}
