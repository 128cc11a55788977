import { BoundedSemaphore, QueueFullError } from './bounded-semaphore';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe(BoundedSemaphore.name, () => {
  it('runs at most `concurrency` tasks, queues up to the limit, and refuses beyond', async () => {
    const sem = new BoundedSemaphore(2, 1);
    const gates = [deferred(), deferred(), deferred()];
    let peak = 0;
    let current = 0;
    const task = (i: number) => () => {
      current++;
      peak = Math.max(peak, current);
      return gates[i].promise.then(() => {
        current--;
        return i;
      });
    };
    const a = sem.run(task(0));
    const b = sem.run(task(1));
    const c = sem.run(task(2));
    await expect(sem.run(() => Promise.resolve(9))).rejects.toBeInstanceOf(QueueFullError);
    expect(sem.active).toBe(2);
    expect(sem.queued).toBe(1);
    gates.forEach((g) => g.resolve());
    await expect(Promise.all([a, b, c])).resolves.toEqual([0, 1, 2]);
    expect(peak).toBe(2);
    expect(sem.active).toBe(0);
    expect(sem.queued).toBe(0);
  });

  it('frees the slot when a task fails', async () => {
    const sem = new BoundedSemaphore(1, 0);
    await expect(sem.run(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(sem.run(() => Promise.resolve('ok'))).resolves.toBe('ok');
  });

  it('refuses a waiter whose weight would take the queue over its weight limit', async () => {
    const sem = new BoundedSemaphore(1, 100, 10);
    let release = (): void => undefined;
    const running = sem.run(() => new Promise<void>((resolve) => (release = resolve)), 50);
    const small = [4, 4].map((weight) => sem.run(() => Promise.resolve(weight), weight));
    await expect(sem.run(() => Promise.resolve(3), 3)).rejects.toBeInstanceOf(QueueFullError);
    const fits = sem.run(() => Promise.resolve(2), 2);
    expect(sem.queued).toBe(3);
    expect(sem.queuedWeight).toBe(10);
    release();
    await expect(Promise.all([running, ...small, fits])).resolves.toEqual([undefined, 4, 4, 2]);
    expect(sem.queuedWeight).toBe(0);
    await expect(sem.run(() => Promise.resolve('ok'), 10)).resolves.toBe('ok');
  });

  it('tells, without running anything, whether a task would be refused now', async () => {
    const sem = new BoundedSemaphore(1, 1, 10);
    let release = (): void => undefined;
    expect(sem.wouldRefuse(100)).toBe(false); // A free slot takes any weight.
    const running = sem.run(() => new Promise<void>((resolve) => (release = resolve)));
    expect(sem.wouldRefuse(10)).toBe(false);
    expect(sem.wouldRefuse(11)).toBe(true); // Over the queue's weight.
    const waiting = sem.run(() => Promise.resolve(), 5);
    expect(sem.wouldRefuse(0)).toBe(true); // The queue's count full.
    release();
    await Promise.all([running, waiting]);
    expect(sem.wouldRefuse(1)).toBe(false);
  });

  it('lets a waiting task whose signal aborts leave the queue, its place and weight freed', async () => {
    const sem = new BoundedSemaphore(1, 2, 10);
    const gate = deferred();
    const running = sem.run(() => gate.promise);
    const gone = new AbortController();
    let ran = false;
    const abandoned = sem.run(
      () => {
        ran = true;
        return Promise.resolve();
      },
      6,
      gone.signal,
    );
    const next = sem.run(() => Promise.resolve('next'), 4);
    expect([sem.queued, sem.queuedWeight]).toEqual([2, 10]);
    gone.abort(new Error('requester gone'));
    await expect(abandoned).rejects.toThrow('requester gone');
    expect([sem.queued, sem.queuedWeight]).toEqual([1, 4]);
    // Its place is free for another task, which its weight would not have let in before.
    const another = sem.run(() => Promise.resolve('another'), 6);
    gate.resolve();
    await expect(Promise.all([running, next, another])).resolves.toEqual([
      undefined,
      'next',
      'another',
    ]);
    expect(ran).toBe(false);
    expect([sem.active, sem.queued, sem.queuedWeight]).toEqual([0, 0, 0]);
  });

  it('never starts, with refuseAbortedHandOver, a task whose signal aborts as its slot is handed over', async () => {
    const sem = new BoundedSemaphore(1, 2);
    const release = await sem.acquire();
    const gone = new AbortController();
    const started: string[] = [];
    const refusing = sem.run(() => (started.push('refusing'), Promise.resolve()), 0, gone.signal, {
      refuseAbortedHandOver: true,
    });
    const behind = sem.run(() => (started.push('behind'), Promise.resolve()));
    release(); // handed to the first waiting task…
    gone.abort(new Error('gone')); // …whose signal aborts before `run` resumes to start it
    await expect(refusing).rejects.toThrow('gone');
    await behind;
    expect(started).toEqual(['behind']);
    // Without it, the task is started all the same.
    const held = await sem.acquire();
    const late = new AbortController();
    const starting = sem.run(() => (started.push('started'), Promise.resolve()), 0, late.signal);
    held();
    late.abort(new Error('late'));
    await starting;
    expect(started).toEqual(['behind', 'started']);
    expect([sem.active, sem.queued]).toEqual([0, 0]);
  });

  it('refuses at once a task whose signal has already aborted, running nothing', async () => {
    const sem = new BoundedSemaphore(1, 1);
    const gone = new AbortController();
    gone.abort(new Error('gone before'));
    await expect(sem.run(() => Promise.resolve('x'), 0, gone.signal)).rejects.toThrow(
      'gone before',
    );
    expect([sem.active, sem.queued]).toEqual([0, 0]);
  });
  it('holds a slot taken with acquire until it is released, once however often release is called', async () => {
    const sem = new BoundedSemaphore(1, 1);
    const release = await sem.acquire();
    expect(sem.active).toBe(1);
    const next = sem.run(() => Promise.resolve('next'));
    expect(sem.queued).toBe(1);
    await expect(sem.acquire()).rejects.toBeInstanceOf(QueueFullError);
    release();
    // A second call would free the slot the next task now holds.
    release();
    await expect(next).resolves.toBe('next');
    expect([sem.active, sem.queued]).toEqual([0, 0]);
    const gone = new AbortController();
    const held = await sem.acquire();
    const waiting = sem.acquire(0, gone.signal);
    gone.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    held();
    expect([sem.active, sem.queued]).toEqual([0, 0]);
  });
});
