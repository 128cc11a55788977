import { randomUUID } from 'node:crypto';
import {
  IdempotencyKeysRepository,
  type IdempotencyKeyRef,
} from '../../src/idempotency/idempotency-keys.repository';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

const SHA = (c: string) => c.repeat(64);
const REQUEST = { method: 'POST', path: '/api/v1/images', payloadSha256: SHA('a') };
const LOST = {
  status: 409,
  headers: { 'content-type': 'application/problem+json; charset=utf-8' },
  body: '{"code":"idempotent_answer_lost"}',
};

/**
 * A key let go (a process exiting with the request cut) while the request's work is committing:
 * the letting go waits for the commit (the mark holds the row's lock), and must then see the work
 * committed: the key records 409 idempotent_answer_lost, as the README promises, rather than
 * staying in flight, answering 409 idempotency_key_in_use, until it expires a day later.
 * Real PostgreSQL only: the race needs two connections.
 */
describe(`${IdempotencyKeysRepository.name}.letGo while the work commits`, () => {
  let m: IntegrationModule;
  let keys: IdempotencyKeysRepository;

  beforeAll(async () => {
    m = await startIntegrationModule('default', {
      imports: [],
      providers: [IdempotencyKeysRepository],
    });
    keys = m.get(IdempotencyKeysRepository);
  });
  afterAll(() => m?.close());

  it('records the answer of a key whose work commits while it is let go', async () => {
    const ref: IdempotencyKeyRef = {
      organizationId: randomUUID(),
      principalType: 'api_key',
      principalId: randomUUID(),
      key: randomUUID(),
    };
    const claim = randomUUID();
    expect(await keys.claim(ref, claim, REQUEST, { ttlSeconds: 3600, inFlightSeconds: 3600 })).toBe(
      true,
    );
    // The work's transaction has marked the key (its row locked) and is about to commit.
    const work = m.dataSource.createQueryRunner();
    await work.startTransaction();
    try {
      expect(await keys.markWorkCommitted(work, ref, claim)).toBe(true);
      const lettingGo = keys.letGo(ref, claim, { payloadSha256: SHA('a'), response: LOST });
      // Long enough for the letting go to be waiting on the row's lock.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await work.commitTransaction();
      expect(await lettingGo).toBe('answered');
    } finally {
      await work.release();
    }
    expect(await keys.find(ref)).toEqual({ fingerprint: REQUEST, response: LOST });
  });
});
