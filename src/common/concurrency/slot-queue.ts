import { abortReason } from './abort-reason';

/** Thrown by {@link SlotQueue} when its queue is full (unless it was given another refusal). */
export class QueueFullError extends Error {
  constructor() {
    super('queue full');
    this.name = 'QueueFullError';
  }
}

/** The bounds of a {@link SlotQueue}; only `slots` is required. */
export interface SlotBounds {
  /** Slots held at once. */
  slots: number;
  /** Waiters allowed, counted with `othersWaiting`; beyond, refused at once. Unbounded if absent. */
  maxWaiting?: number;
  /** The weight the waiters may have together (the bytes of the files they will read). */
  maxWaitingWeight?: number;
  /**
   * What waits elsewhere against the same `maxWaiting` (two queues sharing one ceiling), counted
   * with this queue's own waiters.
   */
  othersWaiting?: () => number;
  /** The error a refusal for the bounds throws: a {@link QueueFullError} if absent. */
  refused?: () => Error;
  /** The message of the error an abort rejects with, where its reason is not an Error. */
  abortedMessage?: string;
}

/** How one slot is waited for (SlotQueue.take and run); all optional. */
export interface SlotWait {
  /** What it weighs against `maxWaitingWeight` while it waits (0 if absent). */
  weight?: number;
  /**
   * It is no longer wanted once this aborts: refused at once if it has, and while it waits it
   * leaves the queue (its place and weight freed for others) rejected with the signal's reason.
   */
  signal?: AbortSignal;
  /**
   * Queued ahead of the other waiters, not behind them, but behind the takers `first` already
   * waiting (served in their arrival order: each may have a deadline counted from it).
   */
  first?: boolean;
  /** Refused with `error()` once it has waited `ms` milliseconds. */
  maxWait?: { ms: number; error: () => Error };
  /**
   * A slot handed over as `signal` aborted (before its taker resumed and could listen for the
   * abort) is given back and the take refused with its reason, as it would have been in the queue.
   * Once held, the slot stays its taker's until released (for work that must end before another
   * starts in its slot).
   */
  refuseAbortedHandOver?: boolean;
  /**
   * The slot is given back when `signal` aborts, at once, as well as by its release; and one
   * handed over as `signal` aborted is given back and refused (`refuseAbortedHandOver`).
   */
  releaseOnAbort?: boolean;
  /**
   * Its place was decided before (work admitted earlier, whose preparation was done for it): not
   * refused for the count of waiters, only for their weight. It counts among them for others.
   */
  admitted?: boolean;
}

/** A waiter in the queue: `grant` hands it the slot a release frees. */
interface Waiter {
  grant: () => void;
  /** Queued `first`: the waiters so queued are the queue's head, in their arrival order. */
  first: boolean;
}

/**
 * Slots in a queue, the one mechanism under the image processor's slots and reads
 * (BoundedSemaphore) and the S3 client's connection turns (CallTurns). At most `slots` are held at
 * once; a taker finding none free waits in the queue, in its place (last; or `first`, ahead of the
 * others but behind the earlier `first` takers), until a release hands it the slot, refused at once
 * when the queue is full (`maxWaiting`, shared with `othersWaiting`, or `maxWaitingWeight`), or
 * later once it has waited its `maxWait` or its `signal` aborts. A release is a function,
 * idempotent: the slot is freed once however often it is called.
 */
export class SlotQueue {
  private taken = 0;
  private waitingWeight = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly bounds: SlotBounds) {}

  /** Slots held. */
  get active(): number {
    return this.taken;
  }

  /** Takers waiting. */
  get queued(): number {
    return this.waiting.length;
  }

  /** The weight of the takers waiting. */
  get queuedWeight(): number {
    return this.waitingWeight;
  }

  /**
   * Whether a taker of `weight` would be refused now: every slot held and the queue full. No
   * promise, no allocation: a caller asks before costly preparation it would otherwise do only to
   * be refused.
   */
  wouldRefuse(weight = 0, admitted = false): boolean {
    if (this.taken < this.bounds.slots) return false;
    const { maxWaiting = Infinity, maxWaitingWeight = Infinity, othersWaiting } = this.bounds;
    if (this.waitingWeight + weight > maxWaitingWeight) return true;
    return !admitted && this.waiting.length + (othersWaiting?.() ?? 0) >= maxWaiting;
  }

  /** A slot, once free or handed over; its release. */
  async take(wait: SlotWait = {}): Promise<() => void> {
    return this.enter(wait);
  }

  /**
   * Runs `task` in a slot, given back once it settles. A free slot is taken, and the task
   * started, at once (not a tick later). Once running, the task is the one to heed `signal`.
   */
  async run<T>(task: () => Promise<T>, wait: SlotWait = {}): Promise<T> {
    const entered = this.enter(wait);
    const release = typeof entered === 'function' ? entered : await entered;
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** The release of a free slot taken now, or the promise of one; throws if refused. */
  private enter(wait: SlotWait): (() => void) | Promise<() => void> {
    if (wait.signal?.aborted) throw this.aborted(wait.signal);
    if (this.wouldRefuse(wait.weight, wait.admitted)) {
      throw this.bounds.refused?.() ?? new QueueFullError();
    }
    if (this.taken < this.bounds.slots) {
      this.taken++;
      return this.releaser(wait);
    }
    return this.queueFor(wait);
  }

  /** Waits in the queue until a release hands the slot over; its release. */
  private async queueFor(wait: SlotWait): Promise<() => void> {
    const { signal, maxWait } = wait;
    const weight = wait.weight ?? 0;
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        this.waitingWeight -= weight;
      };
      const leave = (error: Error) => {
        const at = this.waiting.indexOf(waiter);
        if (at !== -1) this.waiting.splice(at, 1);
        settle();
        reject(error);
      };
      const aborted = () => leave(this.aborted(signal));
      const waiter: Waiter = {
        grant: () => {
          settle();
          resolve();
        },
        first: wait.first === true,
      };
      if (maxWait) timer = setTimeout(() => leave(maxWait.error()), maxWait.ms);
      signal?.addEventListener('abort', aborted, { once: true });
      this.waitingWeight += weight;
      this.enqueue(waiter);
    });
    // Handed over by a release: `taken` still counts the slot, now this taker's.
    const release = this.releaser(wait);
    if ((wait.releaseOnAbort || wait.refuseAbortedHandOver) && signal?.aborted) {
      release();
      throw this.aborted(signal);
    }
    return release;
  }

  /** Puts `waiter` last; or, `first`, behind the `first` waiters already there (FIFO among them). */
  private enqueue(waiter: Waiter): void {
    if (!waiter.first) {
      this.waiting.push(waiter);
      return;
    }
    const behind = this.waiting.findIndex((other) => !other.first);
    if (behind === -1) this.waiting.push(waiter);
    else this.waiting.splice(behind, 0, waiter);
  }

  /** Frees the slot taken, once: to the next waiter, or for anyone; at `signal`'s abort if asked. */
  private releaser(wait: SlotWait): () => void {
    const signal = wait.releaseOnAbort ? wait.signal : undefined;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      signal?.removeEventListener('abort', release);
      const next = this.waiting.shift();
      // Handed straight to the next waiter; otherwise freed.
      if (next) next.grant();
      else this.taken--;
    };
    signal?.addEventListener('abort', release, { once: true });
    return release;
  }

  private aborted(signal: AbortSignal | undefined): Error {
    return abortReason(signal, this.bounds.abortedMessage ?? 'The wait was given up');
  }
}
