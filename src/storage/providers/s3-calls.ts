import { SlotQueue } from '../../common/concurrency/slot-queue';
import { AppError } from '../../common/errors/app.error';

const CALL_ABORTED = 'The call was aborted';

/** How a call waits for its turn (CallTurns.take). */
export interface TakeOptions {
  /**
   * Never refused as busy: it waits in its place until `signal` aborts (its deadline). The
   * requests of a multipart upload under way, whose refusal would throw away the parts already
   * sent, and the whole body with them, for a client to send again.
   */
  patient?: boolean;
  /**
   * Queued ahead of the calls waiting, and patient: the clean-up of an upload that failed, which
   * must not wait behind, or be refused with, the load that failed it. Behind the clean-ups
   * already waiting, in the order they came: each has a deadline counted from its arrival.
   */
  first?: boolean;
}

/**
 * Turns for calls on the S3 client: a call takes one before the SDK sends it and gives it back
 * once S3 has answered. The SDK's `connectionTimeout` starts before its agent hands out a socket,
 * so a call queued behind a full pool (50) timed out as though S3 could not be reached (`502
 * storage_unavailable`: a burst of 300 new transforms answered 158 of them so). Queued here
 * instead, the SDK's timeout measures connecting only, and a call that waits too long for its
 * turn is the service being busy, `503 server_busy` with Retry-After, not the storage being down.
 * The turns are slots of a {@link SlotQueue} (common/concurrency), no bound on the calls waiting
 * but their wait: `maxWaitMs`, or for patient and `first` calls (which have none) their signal.
 */
export class CallTurns {
  private readonly queue: SlotQueue;

  constructor(
    readonly size: number,
    /** How long a call may wait for its turn before it is refused as busy. */
    private readonly maxWaitMs: number,
  ) {
    this.queue = new SlotQueue({ slots: size, abortedMessage: CALL_ABORTED });
  }

  get active(): number {
    return this.queue.active;
  }

  get queued(): number {
    return this.queue.queued;
  }

  /**
   * A turn; its release (idempotent). Refused with `server_busy` after `maxWaitMs` (but see
   * TakeOptions), and with `signal`'s reason once it aborts (a call given up at its deadline): a
   * call no one waits for any more must not take a turn from the calls behind it. Once handed
   * over, the turn is given back when `signal` aborts, at once, as well as by its release: not
   * only once the call's request has noticed the abort and failed (an abort that came as the turn
   * was handed over, before its caller resumed and could listen for it, held the turn until then).
   */
  take(signal?: AbortSignal, options: TakeOptions = {}): Promise<() => void> {
    const refusable = !options.patient && !options.first;
    return this.queue.take({
      signal,
      first: options.first,
      maxWait: refusable ? { ms: this.maxWaitMs, error: storageBusy } : undefined,
      releaseOnAbort: true,
    });
  }
}

/** Our own pool of storage connections is full: the service is busy, the storage is not down. */
export function storageBusy(): AppError {
  return new AppError(
    'server_busy',
    'Too many storage requests are in progress; retry shortly.',
    [],
    { 'Retry-After': '5' },
  );
}

/**
 * Whether the bucket is known to exist, from the last time S3 said so (any call that succeeded,
 * or a HeadBucket): a HEAD's 404 does not say whether the object or the bucket is missing, and
 * asking the bucket after every miss doubled the calls of a burst of new transforms (each first
 * checks whether its result exists), and under load turned misses into storage failures.
 */
export class BucketSightings {
  private lastSeen = Number.NEGATIVE_INFINITY;

  constructor(
    /** How long a sighting is trusted. */
    private readonly trustMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  seen(): void {
    this.lastSeen = this.now();
  }

  /**
   * The bucket is known gone (S3 said `NoSuchBucket`, or a HeadBucket failed): no sighting before
   * this vouches for it any more, so the next HEAD's 404 asks again.
   */
  lost(): void {
    this.lastSeen = Number.NEGATIVE_INFINITY;
  }

  /** The bucket was seen within `trustMs`. */
  recent(): boolean {
    const age = this.now() - this.lastSeen;
    return age >= 0 && age <= this.trustMs;
  }
}
