import { Metrics } from './metrics.service';

/** A gauge read at scrape time, as the job counts are: resolves when `release` is called. */
function heldRead() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return { released, release };
}

describe(Metrics.name, () => {
  it('reads the pool before the job counts start their query, which it would count as waiting', async () => {
    const metrics = new Metrics();
    let waiting = 0;
    // Registered first, as the job queue does: without the ordering its query would start first.
    metrics.watchJobCounts(async () => {
      waiting++; // the count's query, waiting for its connection
      await new Promise((resolve) => setTimeout(resolve, 10));
      waiting--;
      return [{ queue: 'probe', state: 'created', count: 3 }];
    });
    metrics.watchDatabasePool(() => ({ max: 10, open: 5, idle: 5, waiting }));
    const text = await metrics.scrape();
    expect(text).toMatch(/^db_pool_waiting_clients 0$/m);
    expect(text).toMatch(/^job_queue_jobs\{queue="probe",state="created"\} 3$/m);
  });

  it('answers without a family whose read outlasts the deadline, and with the others', async () => {
    const metrics = new Metrics();
    const held = heldRead();
    metrics.watchJobCounts(async () => {
      await held.released;
      return [{ queue: 'probe', state: 'created', count: 3 }];
    });
    metrics.watchDatabasePool(() => ({ max: 10, open: 5, idle: 5, waiting: 0 }));
    // Resolves once WATCHED_READ_TIMEOUT_MS has passed, the read still held.
    const text = await metrics.scrape();
    held.release();
    expect(text).not.toMatch(/^job_queue_jobs\{/m);
    expect(text).toMatch(/^db_pool_max_connections 10$/m);
  });

  it("counts the process's CPU from its start, from the first scrape on", async () => {
    const metrics = new Metrics();
    const before = process.cpuUsage();
    const value = (text: string, name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const first = await metrics.scrape();
    // This worker has used CPU loading its modules: prom-client's own counters said 0 here.
    expect(before.user).toBeGreaterThan(0);
    expect(value(first, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(
      before.user / 1e6,
    );
    expect(value(first, 'process_cpu_system_seconds_total')).toBeGreaterThanOrEqual(
      before.system / 1e6,
    );
    expect(value(first, 'process_cpu_seconds_total')).toBeGreaterThanOrEqual(
      (before.user + before.system) / 1e6,
    );
    expect(first).toMatch(/^# TYPE process_cpu_seconds_total counter$/m);
    // Counters: a later scrape never says less.
    const second = await metrics.scrape();
    expect(value(second, 'process_cpu_seconds_total')).toBeGreaterThanOrEqual(
      value(first, 'process_cpu_seconds_total'),
    );
  });
});
