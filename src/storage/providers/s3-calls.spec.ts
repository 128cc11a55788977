import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../../common/errors/app.error';
import { BucketSightings, CallTurns } from './s3-calls';

describe('CallTurns', () => {
  it('hands out its turns, queues the rest, and hands a released turn to the next', async () => {
    const turns = new CallTurns(2, 1000);
    const first = await turns.take();
    await turns.take();
    let third = false;
    const waiting = turns.take().then((release) => {
      third = true;
      return release;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    expect(turns.queued).toBe(1);
    first();
    first(); // idempotent: the turn is given back once
    (await waiting)();
    expect(third).toBe(true);
    expect(turns.active).toBe(1);
  });

  it('refuses a call that waits too long as 503 server_busy with Retry-After', async () => {
    const turns = new CallTurns(1, 20);
    const release = await turns.take();
    const refused = await turns.take().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'server_busy', headers: { 'Retry-After': '5' } });
    expect(turns.queued).toBe(0);
    release();
    expect(turns.active).toBe(0);
  });
  it('drops a waiting call whose signal aborts: it leaves the queue and never takes a turn', async () => {
    const turns = new CallTurns(1, 1000);
    const release = await turns.take();
    const deadline = new AbortController();
    const waiting = turns.take(deadline.signal).catch((error: unknown) => error);
    await Promise.resolve();
    expect(turns.queued).toBe(1);
    const reason = new Error('past its deadline');
    deadline.abort(reason);
    expect(await waiting).toBe(reason);
    expect(turns.queued).toBe(0);
    // The turn given back goes to no one: the call that gave up must not hold it.
    release();
    expect(turns.active).toBe(0);
  });

  it('gives back a turn whose signal aborts as it is handed over, or while it is held', async () => {
    const turns = new CallTurns(1, 1000);
    const first = await turns.take();
    const deadline = new AbortController();
    const waiting = turns.take(deadline.signal);
    await Promise.resolve();
    first(); // handed to the waiting call…
    const reason = new Error('past its deadline');
    deadline.abort(reason); // …whose deadline passes before it resumes
    // Refused as it would have been in the queue, and the turn not held until its request fails.
    await expect(waiting).rejects.toBe(reason);
    expect(turns.active).toBe(0);
    // A turn held by a call that runs: given back at its abort too, once.
    const held = new AbortController();
    const own = await turns.take(held.signal);
    expect(turns.active).toBe(1);
    held.abort();
    expect(turns.active).toBe(0);
    own();
    expect(turns.active).toBe(0);
  });

  it('refuses a turn handed over to a call given up meanwhile, and passes it on to the next', async () => {
    for (const options of [{}, { patient: true }, { first: true }]) {
      const turns = new CallTurns(1, 1000);
      const held = await turns.take();
      const caller = new AbortController();
      const aborted = turns.take(caller.signal, options).catch((error: unknown) => error);
      let next: (() => void) | undefined;
      const behind = turns.take().then((release) => (next = release));
      held(); // handed to the first waiter…
      const reason = new Error('its caller gave up');
      caller.abort(reason); // …whose caller gives up before it resumes
      expect({ options, outcome: await aborted }).toEqual({ options, outcome: reason });
      await behind;
      // The call behind holds it now, the only turn taken.
      expect({ options, next: typeof next, active: turns.active }).toEqual({
        options,
        next: 'function',
        active: 1,
      });
      next!();
      expect(turns.active).toBe(0);
      expect(turns.queued).toBe(0);
    }
  });

  it('queues a call `first` ahead of those waiting, and never refuses it as busy', async () => {
    const turns = new CallTurns(1, 20);
    const release = await turns.take();
    const order: string[] = [];
    const queued = turns.take().then(
      (own) => (order.push('queued'), own()),
      () => order.push('queued refused'),
    );
    const first = turns.take(undefined, { first: true }).then((own) => {
      order.push('first');
      return own;
    });
    await sleep(60);
    // Past maxWaitMs: the call queued before is refused, the one first still waits.
    expect(order).toEqual(['queued refused']);
    expect(turns.queued).toBe(1);
    release();
    (await first)();
    await queued;
    expect(order).toEqual(['queued refused', 'first']);
    expect(turns.active).toBe(0);
    // Ahead of calls already waiting.
    const held = await turns.take();
    const later = turns.take().then((own) => (order.push('later'), own));
    const ahead = turns.take(undefined, { first: true }).then((own) => (order.push('ahead'), own));
    held();
    (await ahead)();
    (await later)();
    expect(order.slice(2)).toEqual(['ahead', 'later']);
    // Still given up at its signal's abort.
    const holding = await turns.take();
    const deadline = new AbortController();
    const dropped = turns.take(deadline.signal, { first: true }).catch((error: unknown) => error);
    deadline.abort(new Error('gone'));
    expect(await dropped).toMatchObject({ message: 'gone' });
    holding();
    expect(turns.active).toBe(0);
    expect(turns.queued).toBe(0);
  });

  it('lets a `patient` call wait past maxWaitMs, in its place, until its signal aborts', async () => {
    const turns = new CallTurns(1, 20);
    const release = await turns.take();
    const deadline = new AbortController();
    const patient = turns.take(deadline.signal, { patient: true });
    const behind = turns.take(undefined, { patient: true });
    await sleep(60);
    expect(turns.queued).toBe(2);
    release();
    (await patient)();
    (await behind)();
    expect(turns.active).toBe(0);
    const held = await turns.take();
    const dropped = turns.take(deadline.signal, { patient: true }).catch((error: unknown) => error);
    deadline.abort(new Error('past its deadline'));
    expect(await dropped).toMatchObject({ message: 'past its deadline' });
    held();
    expect(turns.active).toBe(0);
    expect(turns.queued).toBe(0);
  });

  it('refuses a call whose signal has already aborted, even with a turn free', async () => {
    const turns = new CallTurns(1, 1000);
    const reason = new Error('past its deadline');
    await expect(turns.take(AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(turns.active).toBe(0);
    expect(turns.queued).toBe(0);
  });
});

describe('BucketSightings', () => {
  it('trusts a sighting for its window only', () => {
    let now = 1000;
    const bucket = new BucketSightings(10_000, () => now);
    expect(bucket.recent()).toBe(false);
    bucket.seen();
    now += 10_000;
    expect(bucket.recent()).toBe(true);
    now += 1;
    expect(bucket.recent()).toBe(false);
    // Known gone: what was seen before no longer vouches for it.
    bucket.seen();
    bucket.lost();
    expect(bucket.recent()).toBe(false);
    // A clock set back is no sighting.
    bucket.seen();
    now -= 5;
    expect(bucket.recent()).toBe(false);
  });
});
