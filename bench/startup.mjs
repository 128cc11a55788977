// Start-up to ready: from spawning `node dist/src/main.js` to /health/ready answering 200, on a new
// database (migrations applied, the first administrator created) and on the same one again; on
// embedded PGlite, and on a PostgreSQL server when one is configured.
import { join } from 'node:path';
import { createDatabase } from './lib/database.mjs';
import { loadAverage } from './lib/processes.mjs';
import { Service } from './lib/service.mjs';

async function timeStarts(ctx, label, serviceOptions) {
  const service = new Service({
    serviceDir: ctx.opts.serviceDir,
    logFile: join(ctx.tmp, `startup-${label}.log`),
    ...serviceOptions,
  });
  const load = loadAverage();
  const first = await service.start();
  await service.stop();
  const again = [];
  for (let i = 0; i < ctx.opts.repeats; i++) {
    again.push(await service.start());
    await service.stop();
  }
  ctx.log(
    `start-up ${label}: first ${(first / 1000).toFixed(2)} s, again ${again.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s`,
  );
  ctx.row({
    what: `start-up to ready, ${label}, new database`,
    unit: 's',
    service: [first / 1000],
    load: [load],
  });
  ctx.row({
    what: `start-up to ready, ${label}`,
    unit: 's',
    service: again.map((ms) => ms / 1000),
    load: [load],
  });
}

export async function startup(ctx) {
  await timeStarts(ctx, 'PGlite', { dataDir: join(ctx.tmp, 'startup-pglite') });
  if (ctx.opts.serverUrl) {
    const db = await createDatabase(ctx.opts.serverUrl);
    ctx.databases.push(db.name);
    await timeStarts(ctx, 'PostgreSQL server', {
      dataDir: join(ctx.tmp, 'startup-server'),
      databaseUrl: db.url,
    });
  }
}
