import { QueueFullError, SlotQueue } from './slot-queue';

/** What `promise` settled with, once it has: `value`, or `error`. */
function settled<T>(promise: Promise<T>): { value?: T; error?: unknown; done: boolean } {
  const state: { value?: T; error?: unknown; done: boolean } = { done: false };
  promise.then(
    (value) => Object.assign(state, { value, done: true }),
    (error: unknown) => Object.assign(state, { error, done: true }),
  );
  return state;
}

/** Lets every promise callback already due run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe(SlotQueue.name, () => {
  // The maxWait timers are fake: one that must never fire is shown gone, not slept past.
  // setImmediate stays real: `settle` lets the promise callbacks due run.
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  it('grants freed slots in order, takers `first` ahead of the others, in their own order', async () => {
    const queue = new SlotQueue({ slots: 1 });
    const order: string[] = [];
    const held = await queue.take();
    // Each gives its slot back as soon as it has it.
    const taken = (name: string, first = false) =>
      queue.take({ first }).then((release) => {
        order.push(name);
        release();
      });
    const all = [taken('a'), taken('b'), taken('urgent', true), taken('later')];
    all.push(taken('urgenter', true));
    expect([queue.active, queue.queued]).toEqual([1, 5]);
    held();
    await Promise.all(all);
    // Among themselves, the oldest first: each may have a deadline counted from its arrival.
    expect(order).toEqual(['urgent', 'urgenter', 'a', 'b', 'later']);
    expect([queue.active, queue.queued]).toEqual([0, 0]);
  });

  it('refuses a taker that waits past its maxWait with its own error, and frees its place', async () => {
    const queue = new SlotQueue({ slots: 1 });
    const held = await queue.take();
    const busy = new Error('busy');
    const impatient = settled(queue.take({ maxWait: { ms: 30, error: () => busy } }));
    const patient = settled(queue.take());
    jest.advanceTimersByTime(29);
    await settle();
    expect(impatient.done).toBe(false);
    jest.advanceTimersByTime(1);
    await settle();
    expect(impatient.error).toBe(busy);
    expect(queue.queued).toBe(1);
    // Granted in time, a taker is not refused at its maxWait after.
    const quick = queue.take({ weight: 5, maxWait: { ms: 30, error: () => busy } });
    held();
    await settle();
    expect(patient.done).toBe(true);
    patient.value!();
    const release = await quick;
    // Its timer went at its grant: past its maxWait, nothing of it is let go a second time.
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(60);
    expect([queue.active, queue.queuedWeight]).toEqual([1, 0]);
    release();
    expect([queue.active, queue.queued]).toEqual([0, 0]);
  });

  it('lets a taker whose signal aborts as it waits leave the queue with its reason, never granted', async () => {
    const queue = new SlotQueue({ slots: 1, abortedMessage: 'no longer wanted' });
    const held = await queue.take();
    const gone = new AbortController();
    const waiting = queue.take({
      weight: 3,
      signal: gone.signal,
      maxWait: { ms: 50, error: () => new Error('x') },
    });
    const behind = settled(queue.take());
    const reason = new Error('requester gone');
    gone.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(queue.queued).toBe(1);
    // The slot freed goes to the taker behind it.
    held();
    await settle();
    expect(behind.done).toBe(true);
    behind.value!();
    // An abort without an Error for reason rejects with one, its message the queue's.
    const holding = await queue.take();
    const bare = new AbortController();
    const dropped = queue.take({ signal: bare.signal });
    bare.abort('bare');
    await expect(dropped).rejects.toMatchObject({ message: 'no longer wanted', cause: 'bare' });
    // Already aborted: refused at once, even with a slot free.
    holding();
    await expect(queue.take({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(queue.run(() => Promise.resolve(1), { signal: gone.signal })).rejects.toBe(reason);
    expect([queue.active, queue.queued]).toEqual([0, 0]);
    // Its maxWait's timer went with it: nothing of it is let go a second time.
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(70);
    expect(queue.queuedWeight).toBe(0);
  });

  it('gives back, with releaseOnAbort, a slot whose signal aborts as it is handed over or held', async () => {
    const queue = new SlotQueue({ slots: 1 });
    const held = await queue.take();
    const deadline = new AbortController();
    const waiting = queue.take({ signal: deadline.signal, releaseOnAbort: true });
    const behind = settled(queue.take());
    held(); // handed to the waiting taker…
    const reason = new Error('past its deadline');
    deadline.abort(reason); // …whose signal aborts before it resumes
    await expect(waiting).rejects.toBe(reason);
    // Given back, to the taker behind it, not held until its owner would notice.
    await settle();
    expect(behind.done).toBe(true);
    behind.value!();
    expect(queue.active).toBe(0);
    // Held: given back at the abort, once, however often its release is called after.
    const owner = new AbortController();
    const own = await queue.take({ signal: owner.signal, releaseOnAbort: true });
    const next = settled(queue.take());
    owner.abort();
    await settle();
    expect(next.done).toBe(true);
    own();
    own();
    expect(queue.active).toBe(1);
    next.value!();
    expect(queue.active).toBe(0);
    // Without releaseOnAbort, a slot handed over as the signal aborts is its taker's to release.
    const first = await queue.take();
    const kept = new AbortController();
    const keeping = queue.take({ signal: kept.signal });
    first();
    kept.abort(new Error('late'));
    const release = await keeping;
    expect(queue.active).toBe(1);
    release();
    expect(queue.active).toBe(0);
  });

  it('refuses, with refuseAbortedHandOver, a slot handed over as its signal aborts, but keeps one held', async () => {
    const queue = new SlotQueue({ slots: 1 });
    const held = await queue.take();
    const gone = new AbortController();
    const waiting = queue.take({ signal: gone.signal, refuseAbortedHandOver: true });
    const behind = settled(queue.take());
    held(); // handed to the waiting taker…
    const reason = new Error('no longer wanted');
    gone.abort(reason); // …whose signal aborts before it resumes
    await expect(waiting).rejects.toBe(reason);
    await settle();
    expect(behind.done).toBe(true);
    behind.value!();
    // Held: its abort frees nothing; the slot is its taker's until released.
    const owner = new AbortController();
    const own = await queue.take({ signal: owner.signal, refuseAbortedHandOver: true });
    const next = settled(queue.take());
    owner.abort();
    await settle();
    expect([next.done, queue.active, queue.queued]).toEqual([false, 1, 1]);
    own();
    await settle();
    expect(next.done).toBe(true);
    next.value!();
    expect(queue.active).toBe(0);
  });

  it('bounds the waiters by their weight, and frees the weight of those that leave', async () => {
    const queue = new SlotQueue({ slots: 1, maxWaitingWeight: 10 });
    const held = await queue.take({ weight: 50 }); // A free slot takes any weight.
    const small = [4, 4].map((weight) => queue.take({ weight }));
    expect(queue.wouldRefuse(3)).toBe(true);
    await expect(queue.take({ weight: 3 })).rejects.toBeInstanceOf(QueueFullError);
    const gone = new AbortController();
    const leaving = queue.take({ weight: 2, signal: gone.signal });
    expect([queue.queued, queue.queuedWeight]).toEqual([3, 10]);
    gone.abort(new Error('gone'));
    await expect(leaving).rejects.toThrow('gone');
    expect(queue.queuedWeight).toBe(8);
    // Admitted before, a taker is still refused for weight.
    await expect(queue.take({ weight: 3, admitted: true })).rejects.toBeInstanceOf(QueueFullError);
    const fits = queue.take({ weight: 2 });
    held();
    for (const next of [...small, fits]) (await next)();
    expect([queue.active, queue.queued, queue.queuedWeight]).toEqual([0, 0, 0]);
  });

  it('shares one ceiling on the count of waiters with what waits elsewhere', async () => {
    const busy = new Error('busy');
    let elsewhere = 1;
    const queue = new SlotQueue({
      slots: 1,
      maxWaiting: 2,
      othersWaiting: () => elsewhere,
      refused: () => busy,
    });
    const held = await queue.take(); // A free slot is taken whatever waits elsewhere.
    const waiting = queue.take();
    expect(queue.wouldRefuse()).toBe(true);
    await expect(queue.take()).rejects.toBe(busy);
    await expect(queue.run(() => Promise.resolve(1))).rejects.toBe(busy);
    // Admitted before: it waits past the count (and counts for others).
    const admitted = queue.take({ admitted: true });
    expect(queue.queued).toBe(2);
    elsewhere = 0;
    expect(queue.wouldRefuse()).toBe(true);
    held();
    (await waiting)();
    expect(queue.wouldRefuse()).toBe(false);
    (await admitted)();
    expect([queue.active, queue.queued]).toEqual([0, 0]);
  });

  it('runs a task in a slot at once when one is free, and frees it however the task ends', async () => {
    const queue = new SlotQueue({ slots: 1, maxWaiting: 0 });
    let started = false;
    const running = queue.run(async () => {
      started = true;
      await settle();
      throw new Error('failed');
    });
    expect(started).toBe(true);
    expect(queue.active).toBe(1);
    await expect(queue.run(() => Promise.resolve(2))).rejects.toBeInstanceOf(QueueFullError);
    await expect(running).rejects.toThrow('failed');
    await expect(queue.run(() => Promise.resolve('ok'))).resolves.toBe('ok');
    expect(queue.active).toBe(0);
  });

  it('frees a slot once however often its release is called', async () => {
    const queue = new SlotQueue({ slots: 2 });
    const a = await queue.take();
    const b = await queue.take();
    const c = queue.take();
    a();
    a(); // A second call would free the slot `c` now holds, or one `b` holds.
    const releaseC = await c;
    expect([queue.active, queue.queued]).toEqual([2, 0]);
    b();
    releaseC();
    releaseC();
    b();
    expect(queue.active).toBe(0);
  });
});
