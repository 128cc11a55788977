import { randomUUID } from 'node:crypto';
import {
  IDEMPOTENCY_CONFIG,
  idempotencyConfigProvider,
} from '../../src/idempotency/idempotency.config';
import {
  IdempotencyKeysRepository,
  type IdempotencyKeyRef,
} from '../../src/idempotency/idempotency-keys.repository';
import { IdempotencyService, type Answer } from '../../src/idempotency/idempotency.service';
import {
  apartFromTheWork,
  IdempotentAttempt,
  IdempotentReplay,
  runInAttempt,
} from '../../src/idempotency/idempotent-attempt';
import { IdempotentWorkSubscriber } from '../../src/idempotency/idempotent-work.subscriber';
import { KnownDigest, RowsDigest } from '../../src/idempotency/payload-digest';
import { killMidTransaction } from '../support/db-faults';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

const HOUR = 3600;
/** A key lives an hour, and one in flight is waited for an hour. */
const LIVES = { ttlSeconds: HOUR, inFlightSeconds: HOUR };
const EXPIRED = { ttlSeconds: -1, inFlightSeconds: HOUR };
const SHA = (c: string) => c.repeat(64);
const REQUEST = { method: 'POST', path: '/api/v1/images', payloadSha256: SHA('a') };
const ANSWER = { status: 201, headers: { location: '/api/v1/images/x' }, body: '{"id":"x"}' };

const answer = (status: number, body = '{}'): Answer => ({
  status,
  header: (name) => (name === 'content-type' ? 'application/json; charset=utf-8' : undefined),
  body,
});

/** What a caller sees of the promise: what it threw (its code, or the replayed answer), or ok. */
async function outcome(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
    return 'admitted';
  } catch (error) {
    if (error instanceof IdempotentReplay) return { replay: error.response };
    return (error as { code?: string }).code ?? error;
  }
}

describe.each(AVAILABLE_BACKENDS)(`${IdempotencyKeysRepository.name} on %s`, (backend) => {
  let m: IntegrationModule;
  let keys: IdempotencyKeysRepository;
  let service: IdempotencyService;
  const organizationId = randomUUID();
  const principalId = randomUUID();
  /** A key of its own for each test. */
  const newRef = (): IdempotencyKeyRef => ({
    organizationId,
    principalType: 'api_key',
    principalId,
    key: randomUUID(),
  });

  beforeAll(async () => {
    m = await startIntegrationModule(backend, {
      imports: [],
      providers: [
        idempotencyConfigProvider,
        IdempotencyKeysRepository,
        IdempotencyService,
        IdempotentWorkSubscriber,
      ],
    });
    keys = m.get(IdempotencyKeysRepository);
    service = m.get(IdempotencyService);
  });
  afterAll(() => m?.close());

  it('lets exactly one of many concurrent claims of a key win', async () => {
    const ref = newRef();
    const won = await Promise.all(
      Array.from({ length: 12 }, () => keys.claim(ref, randomUUID(), REQUEST, LIVES)),
    );
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await keys.find(ref)).toEqual({ fingerprint: REQUEST, response: null });
  });

  it('records the answer only for the claim that holds the key, once', async () => {
    const ref = newRef();
    const claim = randomUUID();
    await keys.claim(ref, claim, { ...REQUEST, payloadSha256: null }, LIVES);
    expect(await keys.complete(ref, randomUUID(), SHA('b'), ANSWER)).toBe(false);
    expect(await keys.complete(ref, claim, SHA('b'), ANSWER)).toBe(true);
    expect(await keys.complete(ref, claim, SHA('c'), { ...ANSWER, status: 500 })).toBe(false);
    expect(await keys.find(ref)).toEqual({
      fingerprint: { ...REQUEST, payloadSha256: SHA('b') },
      response: ANSWER,
    });
    // Completed: neither released nor claimed again while it lives.
    await keys.release(ref, claim);
    expect(await keys.claim(ref, randomUUID(), REQUEST, LIVES)).toBe(false);
    expect((await keys.find(ref))?.response).toEqual(ANSWER);
  });

  it('releases a key only for the claim that holds it', async () => {
    const ref = newRef();
    const claim = randomUUID();
    await keys.claim(ref, claim, REQUEST, LIVES);
    await keys.release(ref, randomUUID());
    expect(await keys.find(ref)).toBeDefined();
    await keys.release(ref, claim);
    expect(await keys.find(ref)).toBeUndefined();
    expect(await keys.claim(ref, randomUUID(), REQUEST, LIVES)).toBe(true);
  });

  it('never releases a key whose work committed: it records the answer it is given instead', async () => {
    const ref = newRef();
    const claim = randomUUID();
    await keys.claim(ref, claim, { ...REQUEST, payloadSha256: null }, LIVES);
    await commitWork(ref, claim);
    await keys.release(ref, claim);
    expect(await keys.find(ref)).toEqual({
      fingerprint: { ...REQUEST, payloadSha256: null },
      response: null,
    });
    expect(await keys.letGo(ref, randomUUID(), { payloadSha256: SHA('a'), response: ANSWER })).toBe(
      'none',
    );
    expect(await keys.letGo(ref, claim, { payloadSha256: SHA('a'), response: ANSWER })).toBe(
      'answered',
    );
    expect(await keys.find(ref)).toEqual({ fingerprint: REQUEST, response: ANSWER });
    expect(await keys.letGo(ref, claim, { payloadSha256: SHA('a'), response: ANSWER })).toBe(
      'none',
    );

    const idle = newRef();
    const idleClaim = randomUUID();
    await keys.claim(idle, idleClaim, REQUEST, LIVES);
    expect(await keys.letGo(idle, idleClaim, { payloadSha256: null, response: ANSWER })).toBe(
      'released',
    );
    expect(await keys.find(idle)).toBeUndefined();
  });

  it('forgets an expired key: a new claim takes it over, the old claim cannot record; swept', async () => {
    const ref = newRef();
    const old = randomUUID();
    await keys.claim(ref, old, REQUEST, EXPIRED);
    expect(await keys.find(ref)).toBeUndefined();
    const fresh = randomUUID();
    expect(await keys.claim(ref, fresh, { ...REQUEST, path: '/other' }, LIVES)).toBe(true);
    expect(await keys.complete(ref, old, SHA('b'), ANSWER)).toBe(false);
    expect((await keys.find(ref))?.fingerprint.path).toBe('/other');

    const gone = newRef();
    await keys.claim(gone, randomUUID(), REQUEST, EXPIRED);
    expect(await keys.sweep(1000)).toBeGreaterThanOrEqual(1);
    expect(
      await m.dataSource.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [gone.key]),
    ).toEqual([]);
    expect(await keys.find(ref)).toBeDefined();
  });

  /** Makes the key's claim look `seconds` old. */
  const age = (ref: IdempotencyKeyRef, seconds: number) =>
    m.dataSource.query(
      `UPDATE idempotency_keys SET created_at = now() - $2 * interval '1 second' WHERE key = $1`,
      [ref.key, seconds],
    );
  /** Marks the claim's work committed, as the transaction committing it does. */
  async function commitWork(ref: IdempotencyKeyRef, claim: string): Promise<boolean> {
    const runner = m.dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      const marked = await keys.markWorkCommitted(runner, ref, claim);
      await runner.commitTransaction();
      return marked;
    } finally {
      await runner.release();
    }
  }

  it('takes over a key in flight past its in-flight time only if its work never committed, for the same request', async () => {
    const inFlight = { ttlSeconds: HOUR, inFlightSeconds: 60 };
    // Died before its work committed: taken over, and the first claim can record nothing.
    const died = newRef();
    const lost = randomUUID();
    await keys.claim(died, lost, REQUEST, inFlight);
    expect(await keys.claim(died, randomUUID(), REQUEST, inFlight)).toBe(false);
    await age(died, 61);
    const retry = randomUUID();
    expect(await keys.claim(died, retry, REQUEST, inFlight)).toBe(true);
    expect(await keys.complete(died, lost, SHA('a'), ANSWER)).toBe(false);
    expect(await commitWork(died, lost)).toBe(false);
    expect(await keys.complete(died, retry, SHA('a'), ANSWER)).toBe(true);

    // Died after its work committed, before its answer was recorded: never taken over.
    const committed = newRef();
    const holder = randomUUID();
    await keys.claim(committed, holder, REQUEST, inFlight);
    expect(await commitWork(committed, holder)).toBe(true);
    await age(committed, 3600);
    expect(await keys.claim(committed, randomUUID(), REQUEST, inFlight)).toBe(false);
    expect(await keys.complete(committed, holder, SHA('a'), ANSWER)).toBe(true);

    // Another request with the key (another payload or path): not taken over.
    const other = newRef();
    await keys.claim(other, randomUUID(), REQUEST, inFlight);
    await age(other, 3600);
    expect(
      await keys.claim(other, randomUUID(), { ...REQUEST, payloadSha256: SHA('b') }, inFlight),
    ).toBe(false);
    expect(await keys.claim(other, randomUUID(), { ...REQUEST, path: '/x' }, inFlight)).toBe(false);
    // A payload still unknown (a CSV being read) on either side counts as the same request.
    expect(
      await keys.claim(other, randomUUID(), { ...REQUEST, payloadSha256: null }, inFlight),
    ).toBe(true);
  });

  describe(IdempotentWorkSubscriber.name, () => {
    const workCommittedAt = async (ref: IdempotencyKeyRef) =>
      (
        await m.dataSource.query<{ at: Date | null }[]>(
          'SELECT work_committed_at AS at FROM idempotency_keys WHERE key = $1',
          [ref.key],
        )
      )[0]?.at;
    /** Work of the request: a row of its own (another key's), written in a transaction. */
    const work = (attempt: IdempotentAttempt, made: IdempotencyKeyRef) =>
      runInAttempt(attempt, () =>
        m.dataSource.transaction(async (manager) => {
          await manager.query(
            `INSERT INTO idempotency_keys (organization_id, principal_type, principal_id, key,
                                           claim_id, request_method, request_path, expires_at)
             VALUES ($1, 'api_key', $2, $3, $4, 'POST', '/work', now() + interval '1 hour')`,
            [made.organizationId, made.principalId, made.key, randomUUID()],
          );
        }),
      );

    it('marks a claimed request’s work committed in the transaction that commits it, and only then', async () => {
      const ref = newRef();
      const attempt = new IdempotentAttempt(ref, 'POST', REQUEST.path);
      await service.admit(attempt, new KnownDigest(SHA('a')));
      // Rolled back: not marked.
      await expect(
        runInAttempt(attempt, () =>
          m.dataSource.transaction(async () => {
            throw new Error('refused');
          }),
        ),
      ).rejects.toThrow('refused');
      expect(await workCommittedAt(ref)).toBeNull();
      // Outside the request: not marked.
      await m.dataSource.transaction(() => Promise.resolve());
      expect(await workCommittedAt(ref)).toBeNull();
      const made = newRef();
      await work(attempt, made);
      expect(await workCommittedAt(ref)).toBeInstanceOf(Date);
      expect(await keys.find(made)).toBeDefined();
    });

    it('does not mark the work committed for a step run apart from the work', async () => {
      const ref = newRef();
      const attempt = new IdempotentAttempt(ref, 'POST', REQUEST.path);
      await service.admit(attempt, new KnownDigest(SHA('a')));
      await runInAttempt(attempt, () =>
        apartFromTheWork(() => m.dataSource.transaction(() => Promise.resolve())),
      );
      expect(await workCommittedAt(ref)).toBeNull();
      // A 5xx then lets the key go: nothing was done.
      await service.settle(attempt, answer(503));
      expect(await keys.find(ref)).toBeUndefined();
    });

    it('rolls back the work of a request whose key a retry took over: 409, nothing written', async () => {
      const ref = newRef();
      const late = new IdempotentAttempt(ref, 'POST', REQUEST.path);
      await service.admit(late, new KnownDigest(SHA('a')));
      await age(ref, 2 * HOUR);
      await service.admit(
        new IdempotentAttempt(ref, 'POST', REQUEST.path),
        new KnownDigest(SHA('a')),
      );
      const made = newRef();
      expect(await outcome(work(late, made))).toBe('idempotency_key_in_use');
      expect(await keys.find(made)).toBeUndefined();
      expect(await workCommittedAt(ref)).toBeNull();
      // Its clean-up (queuing its stored files' deletion) still commits; the key stays the retry's.
      const cleanedUp = newRef();
      await work(late, cleanedUp);
      expect(await keys.find(cleanedUp)).toBeDefined();
      expect(await workCommittedAt(ref)).toBeNull();
      await service.settle(late, answer(409));
      expect(await keys.find(ref)).toEqual({ fingerprint: REQUEST, response: null });
    });
  });

  describe(IdempotencyService.name, () => {
    const attempt = (ref: IdempotencyKeyRef, path = '/api/v1/images') =>
      new IdempotentAttempt(ref, 'POST', path);

    it('replays an answer below 500 to the same request, 422 to another, 409 while in flight', async () => {
      const ref = newRef();
      const first = attempt(ref);
      await service.admit(first, new KnownDigest(SHA('a')));
      expect(await outcome(service.admit(attempt(ref), new KnownDigest(SHA('a'))))).toBe(
        'idempotency_key_in_use',
      );
      expect(await outcome(service.admit(attempt(ref), new KnownDigest(SHA('b'))))).toBe(
        'idempotency_key_reused',
      );
      await service.settle(first, answer(404, '{"code":"product_not_found"}'));
      expect(await outcome(service.admit(attempt(ref), new KnownDigest(SHA('a'))))).toEqual({
        replay: {
          status: 404,
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: '{"code":"product_not_found"}',
        },
      });
      expect(await outcome(service.admit(attempt(ref), new KnownDigest(SHA('b'))))).toBe(
        'idempotency_key_reused',
      );
      expect(await outcome(service.admit(attempt(ref, '/x'), new KnownDigest(SHA('a'))))).toBe(
        'idempotency_key_reused',
      );
    });

    it('releases the key after a 5xx, so that a retry does the work', async () => {
      const ref = newRef();
      const first = attempt(ref);
      await service.admit(first, new KnownDigest(SHA('a')));
      await service.settle(first, answer(503));
      expect(await outcome(service.admit(attempt(ref), new KnownDigest(SHA('a'))))).toBe(
        'admitted',
      );
    });

    it('never lets go of a key whose work committed: a 5xx after it is recorded as 409 idempotent_answer_lost', async () => {
      const ref = newRef();
      const first = attempt(ref);
      await service.admit(first, new KnownDigest(SHA('a')));
      await runInAttempt(first, () => m.dataSource.transaction(() => Promise.resolve()));
      await service.settle(first, answer(503));
      const retried = await outcome(service.admit(attempt(ref), new KnownDigest(SHA('a'))));
      expect(retried).toEqual({
        replay: {
          status: 409,
          headers: { 'content-type': 'application/problem+json; charset=utf-8' },
          body: expect.any(String) as string,
        },
      });
      const { body } = (retried as { replay: { body: string } }).replay;
      expect(JSON.parse(body)).toMatchObject({ status: 409, code: 'idempotent_answer_lost' });
      // Another payload with the key is still another request.
      expect(await outcome(service.admit(attempt(ref), new KnownDigest(SHA('b'))))).toBe(
        'idempotency_key_reused',
      );
    });

    it.each([412, 415])('releases the key after a %i, which did nothing', async (status) => {
      const ref = newRef();
      const first = attempt(ref);
      await service.admit(first, new KnownDigest(SHA('a')));
      await service.settle(first, answer(status, '{"code":"refused"}'));
      expect(await keys.find(ref)).toBeUndefined();
    });

    it('lets go of the keys of requests cut by an exit: released, or answered if their work committed', async () => {
      // A process of its own: the attempts the other tests left claimed are not its.
      const service = new IdempotencyService(m.get(IDEMPOTENCY_CONFIG), keys);
      const [idle, done] = [attempt(newRef()), attempt(newRef())];
      await service.admit(idle, new KnownDigest(SHA('a')));
      await service.admit(done, new KnownDigest(SHA('a')));
      await runInAttempt(done, () => m.dataSource.transaction(() => Promise.resolve()));
      const answered = attempt(newRef());
      await service.admit(answered, new KnownDigest(SHA('a')));
      await service.settle(answered, answer(201));

      expect(await service.releaseCut(5000)).toBe(1);
      expect(await keys.find(idle.ref)).toBeUndefined();
      expect((await keys.find(done.ref))?.response?.status).toBe(409);
      expect((await keys.find(answered.ref))?.response?.status).toBe(201);
      // The cut request's work, should it try to commit before the exit, is rolled back.
      const made = newRef();
      expect(
        await outcome(
          runInAttempt(idle, () =>
            m.dataSource.transaction((manager) =>
              manager.query(
                `INSERT INTO idempotency_keys (organization_id, principal_type, principal_id, key,
                                               claim_id, request_method, request_path, expires_at)
                 VALUES ($1, 'api_key', $2, $3, $4, 'POST', '/work', now() + interval '1 hour')`,
                [made.organizationId, made.principalId, made.key, randomUUID()],
              ),
            ),
          ),
        ),
      ).toBe('idempotency_key_in_use');
      expect(await keys.find(made)).toBeUndefined();
      expect(await service.releaseCut(5000)).toBe(0);
    });

    (backend === 'postgres' ? it : it.skip)(
      'records the answer on a live connection when the one it was handed is killed',
      async () => {
        const ref = newRef();
        const first = attempt(ref);
        await service.admit(first, new KnownDigest(SHA('a')));
        // The recording's statement waits on the test's lock, and its backend is terminated.
        await killMidTransaction(
          m.db.env.DATABASE_URL,
          'LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE',
          /UPDATE idempotency_keys/,
          () => service.settle(first, answer(201, '{"id":"x"}')),
        );
        expect(await outcome(service.admit(attempt(ref), new KnownDigest(SHA('a'))))).toEqual({
          replay: expect.objectContaining({ status: 201, body: '{"id":"x"}' }),
        });
      },
    );

    it('releases the key when the payload was not read whole (a body refused halfway)', async () => {
      const ref = newRef();
      const first = attempt(ref);
      const rows = new RowsDigest('csv');
      rows.wrap([{ url: 'https://x/a.png' }]);
      await service.admit(first, rows);
      await service.settle(first, answer(400));
      expect(await keys.find(ref)).toBeUndefined();
    });

    it('lets go of a key claimed after its request was answered (another parameter refused)', async () => {
      const ref = newRef();
      const late = attempt(ref);
      await service.settle(late, answer(400));
      expect(await outcome(service.admit(late, new KnownDigest(SHA('a'))))).toBeInstanceOf(Error);
      expect(await keys.find(ref)).toBeUndefined();
    });
  });
});
