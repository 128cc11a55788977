import { Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import passport from 'passport';
import { AppError } from '../common/errors/app.error';
import type { ErrorCode } from '../common/errors/error-codes';
import { AUTH_CONFIG, type AuthConfig } from './auth.config';
import { API_KEY_QUERY_NAME, presentedCredential } from './credentials';
import type { Principal } from './principal';
import { PrincipalService } from './principal.service';
import { authenticationChallenge, credentialGoneMeanwhile } from './challenge';
import { authorise, type RouteAccess } from './route-access';
import { JWT_STRATEGY } from './strategies/jwt.strategy';

export type AuthenticatedRequest = FastifyRequest & { user?: Principal };

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set once a protected route has admitted the request: asks again, as the caller is now,
     * whether it would be admitted (its key not revoked or expired, its user not disabled, deleted
     * or logged out, its role and scopes still enough); throws the 401 or 403 if not. For what
     * reads a long body (an upload may stream for HTTP_REQUEST_TIMEOUT_MS) before it commits.
     */
    readmit?: () => Promise<void>;
    /** When the request was admitted (Date.now()), for how long its body then took. */
    admittedAt?: number;
  }
}

function unauthenticated(code: ErrorCode, detail: string, bearerError?: string): AppError {
  return new AppError(code, detail, [], authenticationChallenge(bearerError));
}

/** A strategy's own failure (the database is down, say): a 500, not a 401. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * passport-jwt's verdict on the request's bearer token (signature, algorithm, issuer, audience,
 * expiry, then JwtStrategy.validate), through passport's own entry point, as AuthGuard runs it.
 */
function verifiedBearer(request: FastifyRequest): Promise<Principal | false> {
  return new Promise((resolve, reject) => {
    const done = (err: unknown, user?: Principal | false): void =>
      err ? reject(asError(err)) : resolve(user ?? false);
    const middleware = passport.authenticate(JWT_STRATEGY, { session: false }, done) as (
      req: unknown,
      res: unknown,
      next: (err?: unknown) => void,
    ) => void;
    middleware(request, {}, (err) => done(err, false));
  });
}

/**
 * The one place that decides whether a request may reach a protected route. Default deny: every
 * route needs a credential unless marked @Public(). It authenticates the single credential
 * presented (a JWT through passport-jwt, an API key by its hash), then enforces @MinRole() and
 * @RequireScopes(): 401 for a missing or bad credential (with WWW-Authenticate), 403 for a valid
 * caller without the role or scope. The pre-body hook runs it before any body byte is read; the
 * guard runs it again for routes the hook did not see, and reuses the principal where it did.
 */
@Injectable()
export class RequestAuthenticator {
  constructor(
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
    private readonly principals: PrincipalService,
  ) {}

  async admit(request: AuthenticatedRequest, access: RouteAccess): Promise<void> {
    if (access.public) return;
    request.user ??= await this.authenticate(request);
    authorise(request.user, access);
    const admitted = request.user;
    request.admittedAt ??= Date.now();
    request.readmit ??= () => this.readmit(admitted, access);
  }

  /** See FastifyRequest.readmit: the credential read again from the database, not a cache. */
  private async readmit(admitted: Principal, access: RouteAccess): Promise<void> {
    const current = await this.principals.current(admitted);
    if (!current) throw credentialGoneMeanwhile(admitted.type);
    authorise(current, access);
  }

  private async authenticate(request: FastifyRequest): Promise<Principal> {
    const credential = presentedCredential(request, this.config.API_KEY_QUERY_PARAM);
    // The query's key is the credential, not one of the route's parameters: a list's rules,
    // which refuse unknown parameters, never see it.
    if (this.config.API_KEY_QUERY_PARAM)
      delete (request.query as Record<string, unknown>)[API_KEY_QUERY_NAME];
    switch (credential.kind) {
      case 'none':
        throw unauthenticated('authentication_required', 'This endpoint needs a credential.');
      case 'malformed':
        throw unauthenticated('authentication_required', credential.reason, 'invalid_request');
      case 'bearer': {
        const principal = await verifiedBearer(request);
        if (principal) return principal;
        throw unauthenticated(
          'invalid_token',
          'The bearer token is malformed, expired, wrongly signed, or its user is disabled or gone.',
          'invalid_token',
        );
      }
      case 'api_key': {
        const principal = await this.principals.forApiKey(credential.key);
        if (principal) return principal;
        throw unauthenticated('invalid_api_key', 'The API key is unknown, expired or revoked.');
      }
    }
  }
}
