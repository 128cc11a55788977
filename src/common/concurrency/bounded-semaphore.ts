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
 * at once rather than letting memory, disk and latency grow without bound. `othersWaiting`: what
 * waits elsewhere against the same `queueLimit` (two semaphores sharing one ceiling), counted with
 * this one's own waiters.
 */
export class BoundedSemaphore {
  private running = 0;
  private waitingWeight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queueLimit: number,
    private readonly queueWeightLimit = Number.POSITIVE_INFINITY,
    private readonly othersWaiting: () => number = () => 0,
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
      (this.waiting.length + this.othersWaiting() >= this.queueLimit ||
        this.waitingWeight + weight > this.queueWeightLimit)
    );
  }

  /**
   * Runs `task` once it has a slot. `signal`: the task is no longer wanted once it aborts; while
   * it waits, it then leaves the queue (its place and weight freed for others, the task never
   * run) and `run` rejects with the signal's reason. Once running, the task is the one to heed it.
   */
  async run<T>(task: () => Promise<T>, weight = 0, signal?: AbortSignal): Promise<T> {
    // A free slot is taken, and the task started, at once (not a tick later).
    const waiting = this.enter(weight, signal);
    if (waiting) await waiting;
    const release = this.releaser();
    try {
      return await task();
    } finally {
      release();
    }
  }

  /**
   * A slot, as {@link run} takes one (refused, queued and left alike), held until the function it
   * resolves to is called: for work that holds it over a part of what it does only (a read held
   * until the work it was read for has a slot of another semaphore). Calling it again does
   * nothing: the slot is freed once.
   */
  async acquire(weight = 0, signal?: AbortSignal): Promise<() => void> {
    await this.enter(weight, signal);
    return this.releaser();
  }

  /** Takes a free slot now (undefined), or the promise of one to wait for; throws if refused. */
  private enter(weight: number, signal: AbortSignal | undefined): Promise<void> | undefined {
    signal?.throwIfAborted();
    if (this.wouldRefuse(weight)) throw new QueueFullError();
    if (this.running < this.concurrency) {
      this.running++;
      return undefined;
    }
    this.waitingWeight += weight;
    return this.waitForSlot(signal).finally(() => (this.waitingWeight -= weight));
  }

  /** Frees a slot taken, once however often it is called: to the next waiter, or for anyone. */
  private releaser(): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter; otherwise free it.
      if (next) next();
      else this.running--;
    };
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
