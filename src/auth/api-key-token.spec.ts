import { hashSecret, newApiKeyToken, parseApiKeyToken, secretMatches } from './api-key-token';

describe(newApiKeyToken.name, () => {
  it('makes keys that parse back to their prefix and match their own hash only', () => {
    const a = newApiKeyToken();
    const b = newApiKeyToken();
    expect(a.key).toMatch(/^pis_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKeyToken(a.key);
    expect(parsed?.prefix).toBe(a.prefix);
    expect(secretMatches(parsed!.secret, a.secretHash)).toBe(true);
    expect(secretMatches(parseApiKeyToken(b.key)!.secret, a.secretHash)).toBe(false);
    expect(a.secretHash).toBe(hashSecret(parsed!.secret));
    expect(a.key).not.toContain(a.secretHash);
  });

  it('never repeats a prefix in practice', () => {
    const prefixes = new Set(Array.from({ length: 2000 }, () => newApiKeyToken().prefix));
    expect(prefixes.size).toBe(2000);
  });
});

describe(parseApiKeyToken.name, () => {
  it.each(['', 'pis_', 'pis_short_x', 'Bearer pis_abc', `pis_ABCDEFGH_${'a'.repeat(42)}`])(
    'rejects %j',
    (key) => expect(parseApiKeyToken(key)).toBeUndefined(),
  );
});

describe(secretMatches.name, () => {
  it('is false for a malformed stored hash rather than throwing', () => {
    expect(secretMatches('x', 'not-hex')).toBe(false);
  });
});
