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

export function startSession(next: Session): void {
  session = next;
  endedBecause = undefined;
  interrupted = undefined;
  sessionStorage.setItem(KEY, JSON.stringify(next));
  changed();
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
 * view, reads and uploads go on through a login asked again in either spelling.
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

/** Who the console is for: the session's person, or the interrupted one's while they log in again. */
export function sessionWho(): string | undefined {
  return (session ?? interrupted)?.who;
}

/**
 * Resolves true once `who` has a session (at once, if they have one), false once the console is
 * no longer theirs (a logout, or someone else logged in): work queued in their view waits for it.
 */
export function whenSessionOf(who: string): Promise<boolean> {
  return new Promise((resolve) => {
    const settled = (): boolean => {
      const same = (other: Session | undefined) =>
        other !== undefined && accountOf(other.who) === accountOf(who);
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
