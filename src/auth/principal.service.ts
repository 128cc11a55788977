import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { ApiKeyCache } from './api-key-cache';
import { parseApiKeyToken, secretMatches } from './api-key-token';
import { ApiKeyUsageRepository } from './api-key-usage.repository';
import { ApiKey } from './entities/api-key.entity';
import { User } from './entities/user.entity';
import type { Principal } from './principal';
import { ROLE_SCOPES } from './roles';
import { sessionEnded, type TokenSession } from './sessions';

/**
 * How often, at most, a key's last_used_at is written (a write per request would be wasteful), by
 * all the instances of the service together: the write is conditional on the stored time's age.
 */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Turns a verified credential into a Principal, reading the current state from the database: a
 * disabled or deleted user, or an expired key, stops working at once; a revoked key at once in
 * this process, and within ApiKeyCache's few seconds in other instances of the service.
 */
@Injectable()
export class PrincipalService implements BeforeApplicationShutdown {
  /** When each key's last use was recorded, by this instance or another, as far as this one knows. */
  private readonly lastUsedWrites = new Map<string, number>();
  private readonly pendingWrites = new Set<Promise<void>>();

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(ApiKey) private readonly apiKeys: Repository<ApiKey>,
    private readonly cache: ApiKeyCache,
    private readonly usage: ApiKeyUsageRepository,
  ) {}

  /**
   * The user, unless disabled or deleted; with a token's `session`: also unless that session has
   * ended since (a logout, a password change).
   */
  async forUser(userId: string, session?: TokenSession): Promise<Principal | undefined> {
    const user = await this.users.findOneBy({ id: userId });
    if (!user || user.disabled) return undefined;
    if (session && sessionEnded(session, user)) return undefined;
    return {
      type: 'user',
      id: user.id,
      organizationId: user.organizationId,
      role: user.role,
      scopes: ROLE_SCOPES[user.role],
      userId: user.id,
      ...(session && { session }),
    };
  }

  /**
   * A key belongs to its organisation, not to the user who made it (like Stripe's secret keys or
   * Saleor's app tokens): it keeps working when that user is disabled or deleted, so that an
   * integration does not stop because an employee left. Ending a key is an explicit revocation;
   * the key list names each key's creator, kept after a deletion, for that review. `userId` is
   * the creator while that user exists, for attribution only, never for authorisation.
   */
  async forApiKey(key: string): Promise<Principal | undefined> {
    const parsed = parseApiKeyToken(key);
    if (!parsed) return undefined;
    const apiKey = this.cache.get(parsed.prefix) ?? (await this.readApiKey(parsed.prefix));
    if (!apiKey || !secretMatches(parsed.secret, apiKey.secretHash)) return undefined;
    const principal = activeKey(apiKey);
    if (principal) this.touch(apiKey.id);
    return principal;
  }

  /**
   * The caller as it stands now, for work done later on its behalf (a bulk import's rows): its
   * current role and scopes, or undefined once the user is disabled or deleted or the session
   * that asked has ended (a logout, a password change), or the key revoked (at once: read by id,
   * never from the cache), expired or deleted.
   */
  async current(principal: Principal): Promise<Principal | undefined> {
    if (principal.type === 'user') return this.forUser(principal.id, principal.session);
    const apiKey = await this.apiKeys.findOneBy({ id: principal.id });
    return apiKey ? activeKey(apiKey) : undefined;
  }

  /** The key's row, kept a few seconds for the requests that follow (see ApiKeyCache). */
  private async readApiKey(prefix: string): Promise<ApiKey | null> {
    const ticket = this.cache.ticket();
    const apiKey = await this.apiKeys.findOneBy({ prefix });
    if (apiKey) this.cache.set(apiKey, ticket);
    return apiKey;
  }

  /**
   * Records last_used_at in the background, at most once a minute per key: this instance asks
   * the database at most once a minute, and the database writes only if no instance has in the
   * last minute (and says when one did, so that this instance asks again a minute after that).
   */
  private touch(apiKeyId: string): void {
    const now = Date.now();
    const last = this.lastUsedWrites.get(apiKeyId) ?? 0;
    if (now - last < LAST_USED_RESOLUTION_MS) return;
    this.lastUsedWrites.set(apiKeyId, now);
    const write: Promise<void> = this.usage
      .touch(apiKeyId, LAST_USED_RESOLUTION_MS, new Date(now))
      .then(
        (ageMs) => void this.lastUsedWrites.set(apiKeyId, now - (ageMs ?? 0)),
        () => void this.lastUsedWrites.delete(apiKeyId),
      )
      .finally(() => this.pendingWrites.delete(write));
    this.pendingWrites.add(write);
  }

  /** The writes under way finish before the database is closed. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.pendingWrites);
  }
}

/** A key that is neither revoked nor expired, as a Principal. */
function activeKey(apiKey: ApiKey): Principal | undefined {
  if (apiKey.revokedAt) return undefined;
  if (apiKey.expiresAt && apiKey.expiresAt.getTime() <= Date.now()) return undefined;
  // Never more than the role allows, even if the role's scopes shrank after the key was made.
  const allowed = ROLE_SCOPES[apiKey.role];
  return {
    type: 'api_key',
    id: apiKey.id,
    organizationId: apiKey.organizationId,
    role: apiKey.role,
    scopes: apiKey.scopes.filter((s) => allowed.includes(s)),
    userId: apiKey.createdById,
    ...(apiKey.expiresAt && { expiresAt: apiKey.expiresAt }),
  };
}
