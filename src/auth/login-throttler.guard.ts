import { createHash } from 'node:crypto';
import { Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerRequest,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../common/errors/app.error';
import { clientNetwork } from './client-network';
import { loginAccountTracker } from './login-account-tracker';
import { LoginAddressesRepository } from './login-addresses.repository';

export { loginAccountOf } from './login-account-tracker';

export const LOGIN_BY_ADDRESS = 'login-address';
/** What the throttler library's keys for `AuthController.login` begin with (see generateKey). */
const LOGIN_KEY_PREFIX = 'AuthController-login';
export const LOGIN_BY_ACCOUNT = 'login-account';

/**
 * Login attempts are limited per client address and per account (two named throttlers, set up in
 * AuthModule). Over the limit: 429 `login_rate_limited` with `Retry-After` in seconds. The counts
 * are kept where every instance of the service shares them: its PostgreSQL, or Redis when
 * REDIS_URL is set (SharedStateModule).
 *
 * The per-account throttler counts against the account an identifier names, whichever of its
 * email or username is sent, and apart for an address it logged in from lately
 * ({@link loginAccountTracker}); that needs the database, so it is resolved here rather than by
 * the tracker given in AuthModule.
 */
@Injectable()
export class LoginThrottlerGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    protected readonly addresses: LoginAddressesRepository,
  ) {
    super(options, storage, reflector);
  }

  protected override handleRequest(request: ThrottlerRequest): Promise<boolean> {
    if (request.throttler.name !== LOGIN_BY_ACCOUNT) return super.handleRequest(request);
    return super.handleRequest({
      ...request,
      getTracker: (req: Record<string, unknown>) =>
        this.accountTracker(req as unknown as FastifyRequest),
    });
  }

  /** What the per-account limit counts this attempt against: the account its body names. */
  protected accountTracker(request: FastifyRequest): Promise<string> {
    return loginAccountTracker(this.addresses, request.body, clientNetwork(request.ip));
  }

  /**
   * The login route's keys, on whichever route the guard counts: a password change spends the
   * budget of the logins of its account and address, not one of its own. (The library's keys name
   * the route's class and handler; these are the ones it made for login, so counts kept across an
   * upgrade stay.)
   */
  protected override generateKey(
    _context: ExecutionContext,
    tracker: string,
    name: string,
  ): string {
    return createHash('sha256').update(`${LOGIN_KEY_PREFIX}-${name}-${tracker}`).digest('hex');
  }

  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const seconds = Math.max(1, Math.ceil(detail.timeToBlockExpire));
    throw new AppError(
      'login_rate_limited',
      `Too many login attempts. Try again in ${seconds} seconds.`,
      [],
      { 'Retry-After': String(seconds) },
    );
  }
}
