import { sessionEnded } from './sessions';

describe(sessionEnded.name, () => {
  const at = (iso: string) => new Date(iso);
  const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

  it('ends a token of an earlier generation, also one of the second of the change', () => {
    const user = { tokensValidAfter: at('2026-12-02T10:00:00.900Z'), sessionGeneration: 3 };
    expect(sessionEnded({ issuedAt: seconds('2026-12-02T10:00:00Z'), generation: 2 }, user)).toBe(
      true,
    );
    expect(sessionEnded({ issuedAt: seconds('2026-12-02T10:00:00Z'), generation: 3 }, user)).toBe(
      false,
    );
  });

  it('ends a token of the current generation issued a second before tokens_valid_after (an end recorded by an older instance)', () => {
    const user = { tokensValidAfter: at('2026-12-02T10:00:00.900Z'), sessionGeneration: 3 };
    expect(sessionEnded({ issuedAt: seconds('2026-12-02T09:59:59Z'), generation: 3 }, user)).toBe(
      true,
    );
  });

  it('judges an older token, without a generation, by its iat in whole seconds', () => {
    const user = { tokensValidAfter: at('2026-12-02T10:00:00.900Z'), sessionGeneration: 1 };
    expect(sessionEnded({ issuedAt: seconds('2026-12-02T09:59:59Z') }, user)).toBe(true);
    // The second of the change: kept, as a login right after it must be.
    expect(sessionEnded({ issuedAt: seconds('2026-12-02T10:00:00Z') }, user)).toBe(false);
    const never = { tokensValidAfter: null, sessionGeneration: 0 };
    expect(sessionEnded({ issuedAt: 0 }, never)).toBe(false);
  });
});
