import { API_KEY_CACHE_TTL_MS, ApiKeyCache } from './api-key-cache';
import type { ApiKey } from './entities/api-key.entity';

const key = (prefix: string, values: Partial<ApiKey> = {}) =>
  ({ id: `id-${prefix}`, prefix, revokedAt: null, createdById: 'u1', ...values }) as ApiKey;

describe(ApiKeyCache.name, () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('answers a key by its prefix for a few seconds, then reads it again', () => {
    const cache = new ApiKeyCache();
    const a = key('aaaaaaaa');
    cache.set(a, cache.ticket());
    expect(cache.get('aaaaaaaa')).toBe(a);
    expect(cache.get('bbbbbbbb')).toBeUndefined();
    jest.advanceTimersByTime(API_KEY_CACHE_TTL_MS - 1);
    expect(cache.get('aaaaaaaa')).toBe(a);
    jest.advanceTimersByTime(1);
    expect(cache.get('aaaaaaaa')).toBeUndefined();
  });

  it('never keeps a revoked key, and forgets one revoked or whose creator is deleted', () => {
    const cache = new ApiKeyCache();
    cache.set(key('revoked1', { revokedAt: new Date() }), cache.ticket());
    expect(cache.get('revoked1')).toBeUndefined();
    cache.set(key('aaaaaaaa'), cache.ticket());
    cache.forget('aaaaaaaa');
    expect(cache.get('aaaaaaaa')).toBeUndefined();
    cache.set(key('bbbbbbbb', { createdById: 'u1' }), cache.ticket());
    cache.set(key('cccccccc', { createdById: 'u2' }), cache.ticket());
    cache.forgetCreatedBy('u1');
    expect(cache.get('bbbbbbbb')).toBeUndefined();
    expect(cache.get('cccccccc')).toBeDefined();
  });

  it('keeps no row read while a key was forgotten: the revocation it may not show stands', () => {
    const cache = new ApiKeyCache();
    // A request begins reading the key's row; the key is revoked here before the row comes back.
    const ticket = cache.ticket();
    cache.forget('aaaaaaaa');
    cache.set(key('aaaaaaaa'), ticket);
    expect(cache.get('aaaaaaaa')).toBeUndefined();
    const later = cache.ticket();
    cache.forgetCreatedBy('u9');
    cache.set(key('bbbbbbbb'), later);
    expect(cache.get('bbbbbbbb')).toBeUndefined();
    // A row read after the forget is kept.
    cache.set(key('aaaaaaaa'), cache.ticket());
    expect(cache.get('aaaaaaaa')).toBeDefined();
  });

  it('holds a bounded number of keys, dropping the oldest first', () => {
    const cache = new ApiKeyCache();
    for (let i = 0; i < 10_001; i++) cache.set(key(`k${i}`), cache.ticket());
    expect(cache.get('k0')).toBeUndefined();
    expect(cache.get('k1')).toBeDefined();
    expect(cache.get('k10000')).toBeDefined();
  });
});
