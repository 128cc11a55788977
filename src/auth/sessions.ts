import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { AppError } from '../common/errors/app.error';
import type { User } from './entities/user.entity';
import type { Principal } from './principal';

/** What a token says of the session it belongs to: when it was issued, and in which generation. */
export interface TokenSession {
  /** Its `iat`, in whole seconds. */
  issuedAt: number;
  /** Its `gen`: the user's session generation when it was issued (none in older tokens). */
  generation?: number;
}

/**
 * The columns that end every session of a user (a logout, a password change): the tokens issued
 * until now are refused, exactly (by generation), and those issued before the generation was
 * recorded by their `iat`.
 */
export function endedSessions(): QueryDeepPartialEntity<User> {
  return { tokensValidAfter: new Date(), sessionGeneration: () => '"session_generation" + 1' };
}

/**
 * As {@link endedSessions}, for a user being enabled: only if the row, as the UPDATE finds it, is
 * disabled (a disabling committed meanwhile counts too), so a re-enabled user's old tokens stay
 * refused and an enabled user's keep working.
 */
export function endedSessionsIfDisabled(): QueryDeepPartialEntity<User> {
  return {
    tokensValidAfter: () => 'CASE WHEN "disabled" THEN now() ELSE "tokens_valid_after" END',
    sessionGeneration: () =>
      'CASE WHEN "disabled" THEN "session_generation" + 1 ELSE "session_generation" END',
  };
}

/**
 * Whether the user's sessions ended after this token's was begun: by its generation, exactly;
 * and by its `iat` against `tokens_valid_after`, in whole seconds (so that a login in the same
 * second as the change keeps its token), which judges the tokens issued before generations were
 * recorded, and the ends recorded by an instance of the service from before them (a rolling
 * upgrade: it moves `tokens_valid_after` alone).
 */
export function sessionEnded(
  session: TokenSession,
  user: Pick<User, 'tokensValidAfter' | 'sessionGeneration'>,
): boolean {
  if (session.generation !== undefined && session.generation !== user.sessionGeneration) {
    return true;
  }
  const validAfter = user.tokensValidAfter;
  return validAfter !== null && session.issuedAt < Math.floor(validAfter.getTime() / 1000);
}

/**
 * The id of the user whose session this request belongs to. An API key is no session of a user,
 * even of the one who made it (keys belong to the organisation): 403 user_session_required.
 */
export function sessionUserId(principal: Principal, what: string): string {
  if (principal.type === 'user') return principal.id;
  throw new AppError(
    'user_session_required',
    `${what} needs a logged-in user (Authorization: Bearer, from POST /api/v1/auth/login), ` +
      'not an API key.',
  );
}
