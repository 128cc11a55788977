import { QueueFullError, SlotQueue } from './slot-queue';

export { QueueFullError };

/**
 * At most `concurrency` tasks run at once; at most `queueLimit` more wait, weighing together at
 * most `queueWeightLimit` (say the bytes of the files they will read). Beyond either, `run` fails
 * at once ({@link QueueFullError}) rather than letting memory, disk and latency grow without
 * bound. `othersWaiting`: what waits elsewhere against the same `queueLimit` (two semaphores
 * sharing one ceiling), counted with this one's own waiters. A {@link SlotQueue} with these
 * bounds: its queue, its refusals and its signals are that one mechanism's.
 */
export class BoundedSemaphore {
  private readonly queue: SlotQueue;

  constructor(
    concurrency: number,
    queueLimit: number,
    queueWeightLimit = Number.POSITIVE_INFINITY,
    othersWaiting: () => number = () => 0,
  ) {
    this.queue = new SlotQueue({
      slots: concurrency,
      maxWaiting: queueLimit,
      maxWaitingWeight: queueWeightLimit,
      othersWaiting,
      abortedMessage: 'The task was no longer wanted',
    });
  }

  get active(): number {
    return this.queue.active;
  }

  get queued(): number {
    return this.queue.queued;
  }

  /** The weight of the tasks waiting (the bytes of the files they will read). */
  get queuedWeight(): number {
    return this.queue.queuedWeight;
  }

  /**
   * Whether `run` would fail now for a task of `weight`: every slot taken and the queue full. No
   * promise, no allocation: a caller asks before costly preparation (reading the file) it would
   * otherwise do only to be refused.
   */
  wouldRefuse(weight = 0): boolean {
    return this.queue.wouldRefuse(weight);
  }

  /**
   * Runs `task` once it has a slot; a free one is taken, and the task started, at once. `signal`:
   * the task is no longer wanted once it aborts; while it waits, it then leaves the queue (its
   * place and weight freed for others, the task never run) and `run` rejects with the signal's
   * reason. Once running, the task is the one to heed it. `admitted`: its place was decided
   * before (see SlotWait): it is refused for the queue's weight only, never for its count.
   * `refuseAbortedHandOver`: a slot handed to it as `signal` aborts (before `run` resumed to start
   * it) is given back and the task never started, `run` rejecting with the reason, as it would in
   * the queue; without it, a task whose signal aborted at that moment is started all the same.
   */
  run<T>(
    task: () => Promise<T>,
    weight = 0,
    signal?: AbortSignal,
    { admitted = false, refuseAbortedHandOver = false } = {},
  ): Promise<T> {
    return this.queue.run(task, { weight, signal, admitted, refuseAbortedHandOver });
  }

  /**
   * A slot, as {@link run} takes one (refused, queued and left alike), held until the function it
   * resolves to is called: for work that holds it over a part of what it does only (a read held
   * until the work it was read for has a slot of another semaphore). Calling it again does
   * nothing: the slot is freed once.
   */
  acquire(weight = 0, signal?: AbortSignal): Promise<() => void> {
    return this.queue.take({ weight, signal });
  }
}
