import type { Role, Scope } from './roles';
import type { TokenSession } from './sessions';

/** Who is calling: a user (JWT) or an API key, always inside one organisation. */
export interface Principal {
  type: 'user' | 'api_key';
  /** The user's id, or the API key's id. */
  id: string;
  organizationId: string;
  role: Role;
  scopes: readonly Scope[];
  /** Users: themselves. API keys: the user who created the key, if still present. */
  userId: string | null;
  /**
   * A user signed in by a token: the token's session, so that work done later on its behalf (a
   * bulk import's rows) stops once that session ends (a logout, a password change).
   */
  session?: TokenSession;
  /** An API key that expires: when. */
  expiresAt?: Date;
}

/**
 * What every service method that touches tenant data receives first (as Vendure passes its
 * RequestContext). It is the only source of the organisation id, so a query cannot be scoped
 * to anything but the caller's organisation without visibly bypassing it.
 */
export class RequestContext {
  constructor(readonly principal: Principal) {}

  get organizationId(): string {
    return this.principal.organizationId;
  }

  /** `where` narrowed to the caller's organisation: `repo.findOneBy(ctx.scoped({ id }))`. */
  scoped<T extends object>(where: T): T & { organizationId: string } {
    return { ...where, organizationId: this.organizationId };
  }
}
