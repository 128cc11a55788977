import { untilExpiry } from './until-expiry';

describe(untilExpiry.name, () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const inAnHour = new Date(now + 3_600_000);
  const YEAR = 'public, max-age=31536000, immutable';

  it('keeps the policy of what does not expire', () => {
    expect(untilExpiry(YEAR, null, now)).toBe(YEAR);
  });

  it('bounds a longer max-age by the seconds left, and drops immutable', () => {
    expect(untilExpiry(YEAR, inAnHour, now)).toBe('public, max-age=3600');
    expect(untilExpiry(YEAR, new Date(now + 1_999), now)).toBe('public, max-age=1');
  });

  it('keeps a shorter max-age', () => {
    expect(untilExpiry('public, max-age=600', inAnHour, now)).toBe('public, max-age=600');
  });

  it('gives the seconds left to a policy without max-age, and 0 past the expiry', () => {
    expect(untilExpiry('', inAnHour, now)).toBe('public, max-age=3600');
    expect(untilExpiry(YEAR, new Date(now - 5_000), now)).toBe('public, max-age=0');
  });

  it('reads max-age, not s-maxage', () => {
    expect(untilExpiry('public, s-maxage=10', inAnHour, now)).toBe('public, max-age=3600');
  });
});
