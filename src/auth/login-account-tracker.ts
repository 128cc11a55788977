import { codePointLength } from '../common/http/max-length';
import { canonicalEmail } from './email-address';
import type { LoginAddressesRepository } from './login-addresses.repository';

/** Longest values the columns hold: a longer identifier names no account. */
const MAX_LENGTH = { email: 320, username: 150 } as const;

/** The identifier a login attempt names, as login reads it: email if given, else username. */
function loginIdentifier(body: unknown): { field: 'email' | 'username'; value: string } {
  const b = (body ?? {}) as { email?: unknown; username?: unknown };
  if (typeof b.email === 'string') {
    // As login finds the account (canonicalEmail); more than twice the longest address in UTF-16
    // units is more code points than login's validation lets through, so the rest is not read.
    return { field: 'email', value: canonicalEmail(b.email.slice(0, 2 * MAX_LENGTH.email + 1)) };
  }
  const username = typeof b.username === 'string' ? b.username : '';
  return { field: 'username', value: username.trim().toLowerCase() };
}

/** The account a login attempt names, normalised, whatever its validity. */
export function loginAccountOf(body: unknown): string {
  return loginIdentifier(body).value.slice(0, MAX_LENGTH.email);
}

/**
 * What the per-account login limit counts against: the account itself when the identifier (email
 * or username) names one, so that alternating an account's email and username does not double
 * its guesses; otherwise the identifier, so that unknown names are limited too.
 *
 * Attempts from an address the account logged in from lately (LoginAddressesRepository) count
 * against that account and address apart: failures sent from anywhere else, however many, do not
 * lock the owner out where they usually log in, while guesses from that address stay limited by
 * it (and by the per-address limit).
 *
 * Existence stays hidden: every attempt whose identifier could name an account costs the same one
 * indexed lookup, known or not, and both kinds are limited at the same count with the same 429.
 * That an email and a username are one account's does show (the budget one spent refuses the
 * other, as two unrelated names never are): the price of one budget per account, not two.
 * An identifier no account can have (empty, too long, with a NUL, which PostgreSQL refuses) is
 * not looked up: that depends on the input alone, never on what the database holds.
 */
export async function loginAccountTracker(
  addresses: LoginAddressesRepository,
  body: unknown,
  address: string,
): Promise<string> {
  const { field, value } = loginIdentifier(body);
  // In code points, as the columns count: a domain stored in Unicode can take more UTF-16 units.
  if (value !== '' && codePointLength(value) <= MAX_LENGTH[field] && !value.includes('\u0000')) {
    const account = await addresses.account(field, value, address);
    if (account?.known) return `user:${account.id}@${address}`;
    if (account) return `user:${account.id}`;
  }
  return `name:${value.slice(0, MAX_LENGTH.email)}`;
}

/**
 * As {@link loginAccountTracker} counts a login naming the account, for an attempt by the user
 * themselves (a password change, which proves the current password as a login does): the same
 * key, so that both spend one budget and neither guesses faster than login alone would.
 */
export async function userAccountTracker(
  addresses: LoginAddressesRepository,
  userId: string,
  address: string,
): Promise<string> {
  const account = await addresses.account('id', userId, address);
  return account?.known ? `user:${userId}@${address}` : `user:${userId}`;
}
