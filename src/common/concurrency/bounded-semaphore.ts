/** Thrown by {@link BoundedSemaphore.run} when the queue is full. */
export class QueueFullError extends Error {
  constructor() {
    super('queue full');
    this.name = 'QueueFullError';
  }
}

/**
 * At most `concurrency` tasks run at once; at most `queueLimit` more wait, weighing together at
 * most `queueWeightLimit` (say the bytes of the files they will read). Beyond either, `run` fails
 * at once rather than letting memory, disk and latency grow without bound.
 */
export class BoundedSemaphore {
  private running = 0;
  private waitingWeight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queueLimit: number,
    private readonly queueWeightLimit = Number.POSITIVE_INFINITY,
  ) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** The weight of the tasks waiting (the bytes of the files they will read). */
  get queuedWeight(): number {
    return this.waitingWeight;
  }

  /**
   * Whether `run` would fail now for a task of `weight`: every slot taken and the queue full. No
   * promise, no allocation: a caller asks before costly preparation (reading the file) it would
   * otherwise do only to be refused.
   */
  wouldRefuse(weight = 0): boolean {
    return (
      this.running >= this.concurrency &&
      (this.waiting.length >= this.queueLimit ||
        this.waitingWeight + weight > this.queueWeightLimit)
    );
  }

  async run<T>(task: () => Promise<T>, weight = 0): Promise<T> {
    if (this.wouldRefuse(weight)) throw new QueueFullError();
    if (this.running >= this.concurrency) {
      this.waitingWeight += weight;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      this.waitingWeight -= weight;
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter; otherwise free it.
      if (next) next();
      else this.running--;
    }
  }
}
