import { Injectable } from '@nestjs/common';
import type { ApiKey } from './entities/api-key.entity';

/**
 * How long a key's row, once read, answers for it without reading it again. A revocation in this
 * process takes effect at once (the revoking service forgets the key); one made through another
 * instance of the service takes effect here within this time.
 */
export const API_KEY_CACHE_TTL_MS = 5_000;

/** Enough for every key in use at once; past it the oldest entry goes first. */
const MAX_ENTRIES = 10_000;

/**
 * API keys' rows by their public prefix, for a few seconds, so that a burst of requests with one
 * key reads it once. Only a row that was found and not revoked is kept; the presented secret is
 * still checked against its hash, and the expiry against the clock, on every request, so the
 * cache never admits a request the database would refuse, except a revocation made elsewhere in
 * the last {@link API_KEY_CACHE_TTL_MS}.
 */
@Injectable()
export class ApiKeyCache {
  private readonly entries = new Map<string, { apiKey: ApiKey; until: number }>();
  /** Moves on with every forget: a row read before one is not kept (see {@link set}). */
  private forgets = 0;

  /** To take before reading a key's row, and give to {@link set} with it. */
  ticket(): number {
    return this.forgets;
  }

  get(prefix: string): ApiKey | undefined {
    const entry = this.entries.get(prefix);
    if (!entry) return undefined;
    if (entry.until > Date.now()) return entry.apiKey;
    this.entries.delete(prefix);
    return undefined;
  }

  /**
   * Keeps a row read since `ticket` was taken, unless a key was forgotten meanwhile: a revocation
   * made here while the row was being read, which the row may not show, would otherwise be
   * undone for the cache's few seconds (any forget counts: they are rare, and a row not kept is
   * only read again).
   */
  set(apiKey: ApiKey, ticket: number): void {
    if (apiKey.revokedAt || ticket !== this.forgets) return;
    this.entries.delete(apiKey.prefix);
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(apiKey.prefix, { apiKey, until: Date.now() + API_KEY_CACHE_TTL_MS });
  }

  /** After a revocation: the key's next use reads its row again. */
  forget(prefix: string): void {
    this.forgets += 1;
    this.entries.delete(prefix);
  }

  /** After a user is deleted: their keys' rows name them as creator, which the database no longer does. */
  forgetCreatedBy(userId: string): void {
    this.forgets += 1;
    for (const [prefix, { apiKey }] of this.entries) {
      if (apiKey.createdById === userId) this.entries.delete(prefix);
    }
  }
}
