import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import {
  DeliveryRepository,
  type ResultLease,
} from '../../src/images/delivery/delivery.repository';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

const key = () => `derived/${randomUUID()}/200x0-inside-q80.webp`;

/**
 * The leases that let one process of a fleet make a transform result while the others wait for
 * it. Only a PostgreSQL server is shared between processes, so they are tested there; on the
 * embedded database every claim is granted and nothing is written.
 */
(process.env.TEST_DATABASE_URL ? describe : describe.skip)(
  `${DeliveryRepository.name} leases on a PostgreSQL server`,
  () => {
    let m: IntegrationModule;
    let db: DataSource;
    let leases: DeliveryRepository;

    beforeAll(async () => {
      // Two connections: the leases below outnumber them.
      m = await startIntegrationModule('postgres', {
        imports: [],
        providers: [DeliveryRepository],
        env: { DATABASE_POOL_SIZE: '2' },
      });
      db = m.dataSource;
      leases = m.get(DeliveryRepository);
    });
    afterAll(() => m?.close());

    const rows = (resultKey: string) =>
      db.query<{ holder_id: string; live: boolean }[]>(
        `SELECT holder_id, expires_at > now() AS live FROM transform_result_leases
          WHERE result_key = $1`,
        [resultKey],
      );

    it('grants one of many concurrent claims of a result, and the next one after its release', async () => {
      const resultKey = key();
      const claims = await Promise.all(Array.from({ length: 8 }, () => leases.tryLease(resultKey)));
      const held = claims.filter((c): c is ResultLease => c !== undefined);
      expect(held).toHaveLength(1);
      expect(await rows(resultKey)).toEqual([{ holder_id: expect.any(String), live: true }]);
      expect(await leases.tryLease(resultKey)).toBeUndefined();
      await held[0].release();
      expect(await rows(resultKey)).toEqual([]);
      const next = await leases.tryLease(resultKey);
      expect(next).toBeDefined();
      await next?.release();
    });

    it('holds no connection: more leases than the pool has connections, and queries still answer', async () => {
      const held = await Promise.all(Array.from({ length: 5 }, () => leases.tryLease(key())));
      expect(held.every(Boolean)).toBe(true);
      expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      for (const lease of held) await lease?.release();
    });

    it("takes over a lapsed lease (its maker killed), and the old maker's release leaves it", async () => {
      const resultKey = key();
      const first = await leases.tryLease(resultKey);
      await db.query(
        `UPDATE transform_result_leases SET expires_at = now() - interval '1 second'
          WHERE result_key = $1`,
        [resultKey],
      );
      const second = await leases.tryLease(resultKey);
      expect(second).toBeDefined();
      const [{ holder_id: holder }] = await rows(resultKey);
      await first?.release();
      expect(await rows(resultKey)).toEqual([{ holder_id: holder, live: true }]);
      await second?.release();
      expect(await rows(resultKey)).toEqual([]);
    });

    it('renews a lease while it is held, so that it does not lapse while its result is made', async () => {
      const resultKey = key();
      // A 3 s lease, renewed every second: past 4.5 s it is alive only if renewed.
      const lease = await leases.tryLease(resultKey, 3);
      await sleep(4_500);
      expect(await rows(resultKey)).toEqual([{ holder_id: expect.any(String), live: true }]);
      expect(await leases.tryLease(resultKey)).toBeUndefined();
      await lease?.release();
    });

    it('deletes leases a killed process left over an hour ago on the way to a claim', async () => {
      const left = key();
      await db.query(
        `INSERT INTO transform_result_leases (result_key, holder_id, expires_at)
         VALUES ($1, $2, now() - interval '61 minutes')`,
        [left, randomUUID()],
      );
      const lease = await leases.tryLease(key());
      expect(await rows(left)).toEqual([]);
      await lease?.release();
    });
  },
);

describe(`${DeliveryRepository.name} leases on the embedded database`, () => {
  let m: IntegrationModule;

  beforeAll(async () => {
    m = await startIntegrationModule('pglite', { imports: [], providers: [DeliveryRepository] });
  });
  afterAll(() => m?.close());

  it('grants every claim (one process: its own single-flight suffices) and writes nothing', async () => {
    const resultKey = key();
    const [a, b] = [
      await m.get(DeliveryRepository).tryLease(resultKey),
      await m.get(DeliveryRepository).tryLease(resultKey),
    ];
    expect(a && b).toBeDefined();
    expect(
      await m.dataSource.query('SELECT count(*)::int AS n FROM transform_result_leases'),
    ).toEqual([{ n: 0 }]);
  });
});
