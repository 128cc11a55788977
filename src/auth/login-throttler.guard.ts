import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { AppError } from '../common/errors/app.error';

export const LOGIN_BY_ADDRESS = 'login-address';
export const LOGIN_BY_ACCOUNT = 'login-account';

/** The account a login attempt names, normalised, whatever its validity. */
export function loginAccountOf(body: unknown): string {
  const b = (body ?? {}) as { email?: unknown; username?: unknown };
  const id =
    typeof b.email === 'string' ? b.email : typeof b.username === 'string' ? b.username : '';
  return id.trim().toLowerCase().slice(0, 320);
}

/**
 * Login attempts are limited per client address and per account (two named throttlers, set up in
 * AuthModule). Over the limit: 429 `login_rate_limited` with `Retry-After` in seconds.
 */
@Injectable()
export class LoginThrottlerGuard extends ThrottlerGuard {
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
