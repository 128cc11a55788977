import { RepeatLimiter } from './repeat-limiter';

describe(RepeatLimiter.name, () => {
  it('lets the first through, holds back the rest of its interval, then counts them', () => {
    let now = 1_000;
    const limiter = new RepeatLimiter(60_000, () => now);
    expect(limiter.take()).toBe(0);
    for (let i = 0; i < 5; i++) {
      now += 1_000;
      expect(limiter.take()).toBeUndefined();
    }
    now += 60_000;
    expect(limiter.take()).toBe(5);
    expect(limiter.take()).toBeUndefined();
  });
});
