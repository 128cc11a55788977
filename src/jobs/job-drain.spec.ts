import { jobDrainMs } from './job-queue.service';

describe(jobDrainMs.name, () => {
  it('leaves a quarter of the time left, at most 3 s, to hand the rest back and close', () => {
    expect(jobDrainMs(10_000)).toBe(7500);
    expect(jobDrainMs(4000)).toBe(3000);
    expect(jobDrainMs(1000)).toBe(750);
    expect(jobDrainMs(600_000)).toBe(597_000);
  });

  it('drains nothing once no time is left', () => {
    expect(jobDrainMs(0)).toBe(0);
    expect(jobDrainMs(-50)).toBe(0);
  });
});
