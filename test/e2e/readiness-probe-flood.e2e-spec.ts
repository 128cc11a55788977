import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageProvider } from '../../src/storage/storage-provider';
import { startTestApp, type TestApp } from '../support/test-app';

/** The provider, its `check` counted and taking `ms` (an S3 HeadBucket, a Cloudinary ping). */
function slowChecks<P extends StorageProvider>(
  provider: P,
  counted: { checks: number },
  ms: number,
): P {
  return new Proxy(provider, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property !== 'check') return value;
      return async () => {
        counted.checks++;
        await sleep(ms);
        return target.check();
      };
    },
  });
}

/**
 * The readiness probe is public: a flood of probes (or of anyone) must not become as many calls
 * to the storage's API (S3 requests billed and throttled, Cloudinary's hourly Admin API quota),
 * as it does not become as many database connections (readiness-busy-pool.e2e-spec.ts).
 */
describe('Readiness under a flood of probes', () => {
  let t: TestApp;
  const counted = { checks: 0 };

  beforeAll(async () => {
    t = await startTestApp({}, { wrapStorage: (provider) => slowChecks(provider, counted, 300) });
  });
  afterAll(() => t?.close());

  it('asks the storage once for the probes that arrive while it is being asked', async () => {
    counted.checks = 0;
    const ready = () => t.app.inject({ method: 'GET', url: '/health/ready' });
    const answers = await Promise.all(Array.from({ length: 50 }, () => ready()));
    expect(answers.map((res) => res.statusCode)).toEqual(Array(50).fill(200));
    expect(answers[49].json()).toMatchObject({ details: { storage: { status: 'up' } } });
    expect(counted.checks).toBe(1);
    // A probe after those asks again: nothing is remembered past the check in flight.
    expect((await ready()).statusCode).toBe(200);
    expect(counted.checks).toBe(2);
  });
});
