import { Injectable, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { clientNetwork } from './client-network';
import { userAccountTracker } from './login-account-tracker';
import { LoginThrottlerGuard } from './login-throttler.guard';
import type { Principal } from './principal';
import { sessionUserId } from './sessions';

type AuthenticatedRequest = FastifyRequest & { user?: Principal };

/**
 * `POST /api/v1/auth/password` proves the current password as a login does, so it is limited as
 * one, in the same counts (LoginThrottlerGuard's keys): per client address, and per account,
 * here the caller's own (apart for an address they logged in from lately, as at login). Guessing
 * a password through it is no faster than through login, and each spends the other's budget.
 *
 * An API key is refused before anything is counted or the body is validated (403
 * user_session_required): it has no password to change.
 */
@Injectable()
export class PasswordChangeThrottlerGuard extends LoginThrottlerGuard {
  override canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!request.user) throw new Error('PasswordChangeThrottlerGuard on a public route');
    sessionUserId(request.user, 'Changing your password');
    return super.canActivate(context);
  }

  protected override accountTracker(request: AuthenticatedRequest): Promise<string> {
    const userId = sessionUserId(request.user as Principal, 'Changing your password');
    return userAccountTracker(this.addresses, userId, clientNetwork(request.ip));
  }
}
