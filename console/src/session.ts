// The logged-in session: the JWT from POST /api/v1/auth/login, kept in memory and in this tab's
// sessionStorage (so a reload keeps it, and closing the tab forgets it); never in a URL.
import { useEffect, useState } from 'preact/hooks';
import type { MeDto } from '@sdk';

export type Role = 'admin' | 'staff' | 'user';

/** What a caller may do (src/auth/roles.ts): GET /api/v1/auth/me says the session's. */
export type Scope = MeDto['scopes'][number];

export interface Session {
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** Who is logged in, as the login form named them. */
  who: string;
  /** Their id at the service (GET /api/v1/auth/me, read at the login), when it answered. */
  userId?: string;
  /**
   * Which person the console is for, whichever login they typed: their view and uploads are
   * theirs (see {@link personOf}). Set when the session starts.
   */
  person?: string;
  /** Their role, once read (GET /api/v1/auth/me): a `user` may look, not change. */
  role?: Role;
  /** Their scopes, read with the role: the API keys and Users pages are for who has theirs. */
  scopes?: Scope[];
}

const KEY = 'pis-console-session';
let session: Session | undefined = restore();
/** Why the last session ended, for the login page to say. */
let endedBecause: string | undefined;
/**
 * A session that ended on its own (expired, or refused by the service) while the person worked:
 * its view stays, behind a login, so that what they were typing is still there after it.
 */
let interrupted: Session | undefined;
const listeners = new Set<() => void>();

function restore(): Session | undefined {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return stored && stored.expiresAt > Date.now() ? stored : undefined;
  } catch {
    return undefined;
  }
}

function changed(): void {
  for (const listener of listeners) listener();
}

/**
 * Whether a session is the interrupted one's person: the same user id when both are known (an
 * e-mail address and a username name one account), else the same account as the login names it.
 */
function samePerson(a: Session, b: Session): boolean {
  if (a.userId !== undefined && b.userId !== undefined) return a.userId === b.userId;
  return accountOf(a.who) === accountOf(b.who);
}

/** The key of a session's person: its user id, or (unknown) the account its login names. */
export function personOf(of: Session): string {
  return (
    of.person ?? (of.userId !== undefined ? `user ${of.userId}` : `login ${accountOf(of.who)}`)
  );
}

export function startSession(next: Session): void {
  // The person of a session that ended on its own goes on (their view and uploads kept) when they
  // log in again, in whatever spelling; anyone else is a new person.
  const person =
    next.person ??
    (interrupted && samePerson(interrupted, next) ? personOf(interrupted) : undefined);
  session = { ...next, person: person ?? personOf(next) };
  endedBecause = undefined;
  interrupted = undefined;
  sessionStorage.setItem(KEY, JSON.stringify(session));
  changed();
}

/**
 * The session's new token, from a password change (which ended the one it had): the same person,
 * whose view and uploads go on with it. Only the session whose token `sentWith` the change was sent
 * with: none if they logged out meanwhile, or someone logged in since.
 */
export function renewSession(sentWith: string | undefined, token: string, expiresAt: number): void {
  const current = session ?? interrupted;
  // Only the session the change was sent from: not one begun since (another person's login).
  if (!current || current.token !== sentWith) return;
  renewed.add(current.token);
  startSession({ ...current, token, expiresAt });
}

/** The tokens this tab's sessions had before a password change renewed them (in memory only). */
const renewed = new Set<string>();

/** Whether `token` was the session's until a password change gave it a new one. */
export function wasRenewed(token: string): boolean {
  return renewed.has(token);
}

/** The session's role and scopes, as the service answered them after the login. */
export function setSessionRole(role: Role, scopes: Scope[]): void {
  if (!session) return;
  startSession({ ...session, role, scopes });
}

/**
 * Whether the person may change products and images: staff and admins. While the role is not
 * known yet, the actions are shown (the service refuses what is not allowed, in words).
 */
export function canChange(current: Session | undefined): boolean {
  return current?.role !== 'user';
}

/** Whether the person may import images from URLs (bulk imports): admins, as the service says. */
export function canImport(current: Session | undefined): boolean {
  return current?.role === undefined || current.role === 'admin';
}

/**
 * Whether the person holds `scope` (api_keys:manage, users:manage), as the service said: until it
 * has said, no (a page for administrators is not offered to whoever logged in meanwhile). The
 * service decides each call all the same, and its refusal is said in words.
 */
export function hasScope(current: Session | undefined, scope: Scope): boolean {
  return current?.scopes?.includes(scope) ?? false;
}

/**
 * Ends the session. `keepView`: it ended on its own, not by the person (see {@link interrupted});
 * a logout forgets the view.
 */
export function endSession(reason?: string, { keepView = false } = {}): void {
  interrupted = keepView ? (session ?? interrupted) : undefined;
  session = undefined;
  endedBecause = reason;
  sessionStorage.removeItem(KEY);
  changed();
}

/** The token while the session lasts (checked at each call: a JWT expires on its own). */
export function currentToken(): string | undefined {
  if (session && session.expiresAt <= Date.now())
    endSession('Your session has expired. Log in again to go on.', { keepView: true });
  return session?.token;
}

export function sessionEndReason(): string | undefined {
  return endedBecause;
}

/** The session that ended on its own, whose view waits behind a login; undefined otherwise. */
export function interruptedSession(): Session | undefined {
  return interrupted;
}

/**
 * The account a login names, as the service finds it (src/auth/email-address.ts, accounts.service
 * .ts): an e-mail address whatever its case, Unicode form or IDNA spelling of its domain, a
 * username whatever its case. "Admin@Example.com" and "admin@example.com" are one person, whose
 * view, reads and uploads go on through a login asked again in either spelling; an address and a
 * username are, once the service said both are the same user id.
 */
export function accountOf(who: string): string {
  const composed = who.trim().normalize('NFC');
  const at = composed.lastIndexOf('@');
  if (at < 0) return composed.toLowerCase().normalize('NFC');
  const domain = composed.slice(at + 1);
  let mapped = domain;
  try {
    // The browser's IDNA mapping (to its ASCII spelling): one spelling for the ways one domain is
    // written. A domain it refuses (an address literal) is only lower-cased.
    mapped = new URL(`http://${domain}`).hostname;
  } catch {
    // As typed.
  }
  return `${composed.slice(0, at).toLowerCase()}@${mapped.toLowerCase()}`.normalize('NFC');
}

/**
 * Who the console is for ({@link personOf}): the session's person, or the interrupted one's while
 * they log in again.
 */
export function sessionPerson(): string | undefined {
  const shown = session ?? interrupted;
  return shown && personOf(shown);
}

/**
 * Resolves true once `person` has a session (at once, if they have one), false once the console
 * is no longer theirs (a logout, or someone else logged in): work queued in their view waits.
 */
export function whenSessionOf(person: string): Promise<boolean> {
  return new Promise((resolve) => {
    const settled = (): boolean => {
      const same = (other: Session | undefined) =>
        other !== undefined && personOf(other) === person;
      if (currentToken() !== undefined) resolve(same(session));
      else if (!same(interrupted)) resolve(false);
      else return false;
      return true;
    };
    if (settled()) return;
    const listener = () => {
      if (settled()) listeners.delete(listener);
    };
    listeners.add(listener);
  });
}

/** The session, re-rendering the caller when it starts or ends. */
export function useSession(): Session | undefined {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, []);
  return session;
}
