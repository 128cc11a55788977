/**
 * Lets one of a kind of repeated event through per `intervalMs`, and says how many it held back
 * since the last: a database outage makes every queue's poll fail every few seconds (about 16
 * errors a second on one instance), which is one fact for the log, not hundreds of lines.
 */
export class RepeatLimiter {
  private last = -Infinity;
  private held = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The number held back since the last one let through, or undefined to hold this one back. */
  take(): number | undefined {
    const at = this.now();
    if (at - this.last < this.intervalMs) {
      this.held++;
      return undefined;
    }
    this.last = at;
    const held = this.held;
    this.held = 0;
    return held;
  }
}
