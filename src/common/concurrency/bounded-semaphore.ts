import { abortReason } from './abort-reason';

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

  /**
   * Runs `task` once it has a slot. `signal`: the task is no longer wanted once it aborts; while
   * it waits, it then leaves the queue (its place and weight freed for others, the task never
   * run) and `run` rejects with the signal's reason. Once running, the task is the one to heed it.
   */
  async run<T>(task: () => Promise<T>, weight = 0, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.wouldRefuse(weight)) throw new QueueFullError();
    if (this.running >= this.concurrency) {
      this.waitingWeight += weight;
      try {
        await this.waitForSlot(signal);
      } finally {
        this.waitingWeight -= weight;
      }
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

  /** Resolves once a finishing task hands this one its slot; rejects if `signal` aborts first. */
  private waitForSlot(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        const index = this.waiting.indexOf(take);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(abortReason(signal, 'The task was no longer wanted'));
      };
      const take = (): void => {
        signal?.removeEventListener('abort', leave);
        resolve();
      };
      this.waiting.push(take);
      signal?.addEventListener('abort', leave, { once: true });
    });
  }
}
