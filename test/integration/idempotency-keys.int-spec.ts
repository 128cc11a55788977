import { randomUUID } from 'node:crypto';
import { idempotencyConfigProvider } from '../../src/idempotency/idempotency.config';
import {
  IdempotencyKeysRepository,
  type IdempotencyKeyRef,
} from '../../src/idempotency/idempotency-keys.repository';
import { IdempotencyService, type Answer } from '../../src/idempotency/idempotency.service';
import { IdempotentAttempt, IdempotentReplay } from '../../src/idempotency/idempotent-attempt';
import { KnownDigest, RowsDigest } from '../../src/idempotency/payload-digest';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

const HOUR = 3600;
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
      providers: [idempotencyConfigProvider, IdempotencyKeysRepository, IdempotencyService],
    });
    keys = m.get(IdempotencyKeysRepository);
    service = m.get(IdempotencyService);
  });
  afterAll(() => m?.close());

  it('lets exactly one of many concurrent claims of a key win', async () => {
    const ref = newRef();
    const won = await Promise.all(
      Array.from({ length: 12 }, () => keys.claim(ref, randomUUID(), REQUEST, HOUR)),
    );
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await keys.find(ref)).toEqual({ fingerprint: REQUEST, response: null });
  });

  it('records the answer only for the claim that holds the key, once', async () => {
    const ref = newRef();
    const claim = randomUUID();
    await keys.claim(ref, claim, { ...REQUEST, payloadSha256: null }, HOUR);
    expect(await keys.complete(ref, randomUUID(), SHA('b'), ANSWER)).toBe(false);
    expect(await keys.complete(ref, claim, SHA('b'), ANSWER)).toBe(true);
    expect(await keys.complete(ref, claim, SHA('c'), { ...ANSWER, status: 500 })).toBe(false);
    expect(await keys.find(ref)).toEqual({
      fingerprint: { ...REQUEST, payloadSha256: SHA('b') },
      response: ANSWER,
    });
    // Completed: neither released nor claimed again while it lives.
    await keys.release(ref, claim);
    expect(await keys.claim(ref, randomUUID(), REQUEST, HOUR)).toBe(false);
    expect((await keys.find(ref))?.response).toEqual(ANSWER);
  });

  it('releases a key only for the claim that holds it', async () => {
    const ref = newRef();
    const claim = randomUUID();
    await keys.claim(ref, claim, REQUEST, HOUR);
    await keys.release(ref, randomUUID());
    expect(await keys.find(ref)).toBeDefined();
    await keys.release(ref, claim);
    expect(await keys.find(ref)).toBeUndefined();
    expect(await keys.claim(ref, randomUUID(), REQUEST, HOUR)).toBe(true);
  });

  it('forgets an expired key: a new claim takes it over, the old claim cannot record; swept', async () => {
    const ref = newRef();
    const old = randomUUID();
    await keys.claim(ref, old, REQUEST, -1);
    expect(await keys.find(ref)).toBeUndefined();
    const fresh = randomUUID();
    expect(await keys.claim(ref, fresh, { ...REQUEST, path: '/other' }, HOUR)).toBe(true);
    expect(await keys.complete(ref, old, SHA('b'), ANSWER)).toBe(false);
    expect((await keys.find(ref))?.fingerprint.path).toBe('/other');

    const gone = newRef();
    await keys.claim(gone, randomUUID(), REQUEST, -1);
    expect(await keys.sweep(1000)).toBeGreaterThanOrEqual(1);
    expect(
      await m.dataSource.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [gone.key]),
    ).toEqual([]);
    expect(await keys.find(ref)).toBeDefined();
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
