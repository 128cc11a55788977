import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/** How long an address a user logged in from stays theirs for the login limit. */
export const KNOWN_ADDRESS_DAYS = 30;

/** An address as it is stored: a column holds 64 characters (IPv6 with a zone fits). */
const stored = (address: string): string => address.slice(0, 64);

/**
 * The client addresses each user logged in from (`user_login_addresses`), for the per-account
 * login limit (LoginThrottlerGuard): attempts from an address the account logged in from within
 * KNOWN_ADDRESS_DAYS are counted apart from everyone else's, so that whoever fails logins for the
 * account on purpose does not lock its owner out.
 */
@Injectable()
export class LoginAddressesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * The account that the identifier names (`field` = `value`, normalised, or the account's `id`)
   * and whether it logged in from `address` within KNOWN_ADDRESS_DAYS; null when no account has
   * it. One indexed read.
   */
  async account(
    field: 'email' | 'username' | 'id',
    value: string,
    address: string,
  ): Promise<{ id: string; known: boolean } | null> {
    const column = ({ email: 'email', username: 'username', id: 'id' } as const)[field];
    const [row] = await this.dataSource.query<{ id: string; known: boolean }[]>(
      `SELECT u.id, EXISTS (
                SELECT 1 FROM user_login_addresses a
                 WHERE a.user_id = u.id AND a.address = $2
                   AND a.last_login_at > now() - make_interval(days => $3)) AS known
         FROM users u WHERE u.${column} = $1`,
      [value, stored(address), KNOWN_ADDRESS_DAYS],
    );
    return row ?? null;
  }

  /**
   * Forgets every address the user logged in from, in the caller's transaction: done when their
   * password changes, so that whoever logged in with the old one (a thief's address) no longer
   * has the owner's own count to guess the new one with. The owner's next login remembers theirs.
   */
  async forget(manager: EntityManager, userId: string): Promise<void> {
    await manager.query('DELETE FROM user_login_addresses WHERE user_id = $1', [userId]);
  }

  /**
   * The user logged in from `address` now, if their account is still as the login judged it:
   * there, enabled, and in session generation `generation` (no password change since). Whether it
   * was; if not, nothing is remembered (a login that a password change overtook leaves no address
   * with a budget of its own to guess the new password). The row is locked (FOR SHARE) so that a
   * change or deletion under way is waited for and judged as it commits. Addresses past the
   * window are forgotten.
   */
  async remember(userId: string, address: string, generation: number): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(
      `WITH account AS (
         SELECT id FROM users
          WHERE id = $1 AND NOT disabled AND session_generation = $4 FOR SHARE),
       stale AS (
         DELETE FROM user_login_addresses
          WHERE user_id = $1 AND address <> $2
            AND last_login_at <= now() - make_interval(days => $3))
       INSERT INTO user_login_addresses (user_id, address) SELECT id, $2 FROM account
       ON CONFLICT (user_id, address) DO UPDATE SET last_login_at = now()
       RETURNING user_id`,
      [userId, stored(address), KNOWN_ADDRESS_DAYS, generation],
    );
    return rows.length > 0;
  }
}
