import { DataSource } from 'typeorm';
import { decodeId } from '../../src/common/ids/short-id';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

interface Run {
  id: string;
  state: string;
  trigger: string;
}

/**
 * Requests to re-make renditions sent at the same moment (two admins, a retried click, several
 * instances): each answers the one run under way for the presets, never a second run nor a
 * refusal of the rule that at most one is under way. The process only serves HTTP, so that the
 * run stays planning (its plan job queued, not run) while the requests come.
 */
describe('Requests to re-make renditions sent together', () => {
  let t: TestApp;
  let admin: Credential;

  beforeAll(async () => {
    t = await startTestApp({ SERVICE_ROLE: 'api' });
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });
  afterAll(() => t?.close());

  const sql = <T>(text: string, values: unknown[] = []) =>
    t.app.get(DataSource).query<T[]>(text, values);

  it('all answer the one run they started, whose plan is queued once', async () => {
    expect(await sql('SELECT id FROM rendition_rebuilds')).toEqual([]);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => call(t.app, 'POST', '/api/v1/renditions/rebuilds', admin)),
    );
    expect(answers.map((res) => res.statusCode)).toEqual(Array(8).fill(202));
    const runs = answers.map((res) => res.json<Run>());
    const [first] = runs;
    expect(first).toMatchObject({ state: 'planning', trigger: 'admin' });
    expect(runs.map((run) => run.id)).toEqual(Array(8).fill(first.id));
    for (const res of answers) {
      expect(res.headers.location).toBe(`/api/v1/renditions/rebuilds/${first.id}`);
    }
    expect(await sql('SELECT trigger, state FROM rendition_rebuilds')).toEqual([
      { trigger: 'admin', state: 'planning' },
    ]);
    expect(
      await sql(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'renditions-rebuild-plan'`),
    ).toEqual([{ n: 1 }]);
  });

  it('with nothing to re-make, answers the last run that found nothing, adding no run', async () => {
    // The run above, planned with no image (the database has none): over, of no image.
    await sql(`UPDATE rendition_rebuilds SET state = 'completed', finished_at = now()`);
    const [empty] = await sql<{ id: string; presets: string }>(
      'SELECT id, rendition_set AS presets FROM rendition_rebuilds',
    );
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(await call(t.app, 'POST', '/api/v1/renditions/rebuilds', admin));
    }
    for (const res of answers) {
      expect(res.statusCode).toBe(202);
      expect(res.json<Run>()).toMatchObject({ state: 'completed', total: 0 });
      expect(decodeId(res.json<Run>().id)).toBe(empty.id);
      expect(res.headers.location).toBe(`/api/v1/renditions/rebuilds/${res.json<Run>().id}`);
    }
    expect(await sql('SELECT count(*)::int AS n FROM rendition_rebuilds')).toEqual([{ n: 1 }]);

    // A last run that re-made images (or failed some), or was for other presets: a new run.
    for (const change of [`total = 1, done = 1`, `rendition_set = 'older presets'`]) {
      await sql(`UPDATE rendition_rebuilds SET ${change} WHERE id = $1`, [empty.id]);
      const res = await call(t.app, 'POST', '/api/v1/renditions/rebuilds', admin);
      expect(res.statusCode).toBe(202);
      expect(res.json<Run>()).toMatchObject({ state: 'planning' });
      expect(decodeId(res.json<Run>().id)).not.toBe(empty.id);
      await sql(`DELETE FROM rendition_rebuilds WHERE id <> $1`, [empty.id]);
      await sql(
        `UPDATE rendition_rebuilds SET total = 0, done = 0, rendition_set = $2 WHERE id = $1`,
        [empty.id, empty.presets],
      );
    }
  });
});
