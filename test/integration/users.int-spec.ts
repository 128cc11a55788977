import type { DataSource } from 'typeorm';
import { AuthModule } from '../../src/auth/auth.module';
import type { RequestContext } from '../../src/auth/principal';
import { Role } from '../../src/auth/roles';
import { UsersService } from '../../src/auth/users.service';
import { contextFor, newOrganization, newUser } from '../support/factories';
import {
  errorCode,
  settle,
  startIntegrationModule,
  type IntegrationModule,
} from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** Administrators editing one user at once: each change stays, and a deleted user stays deleted. */
describe.each(AVAILABLE_BACKENDS)(
  `${UsersService.name} under concurrent edits on %s`,
  (backend) => {
    let m: IntegrationModule;
    let db: DataSource;
    let users: UsersService;
    let ctx: RequestContext;
    let organizationId: string;

    beforeAll(async () => {
      m = await startIntegrationModule(backend, { imports: [AuthModule] });
      db = m.dataSource;
      users = m.get(UsersService);
      organizationId = (await newOrganization(db)).id;
      ctx = contextFor({ organizationId, role: Role.Admin });
    });
    afterAll(() => m?.close());

    const row = async (id: string) =>
      (await db.query('SELECT full_name, disabled FROM users WHERE id = $1', [id]))[0] as
        { full_name: string; disabled: boolean } | undefined;

    it('keeps a user disabled that another admin renames at the same time', async () => {
      for (let round = 0; round < 10; round++) {
        const { id } = await newUser(db, { organizationId });
        await settle([
          ...Array.from({ length: 3 }, (_, i) => users.update(ctx, id, { full_name: `Name ${i}` })),
          users.update(ctx, id, { disabled: true }),
          ...Array.from({ length: 3 }, (_, i) => users.update(ctx, id, { full_name: `Late ${i}` })),
        ]);
        expect({ round, disabled: (await row(id))?.disabled }).toEqual({ round, disabled: true });
      }
    });

    it("keeps the organisation's last enabled admin, even against two admins demoted at once", async () => {
      const organization = await newOrganization(db);
      // An admin API key: the caller is none of the users, so cannot_modify_self does not apply.
      const asKey = contextFor({ organizationId: organization.id, role: Role.Admin }, 'api_key');
      const enabledAdmins = async () =>
        (
          await db.query(
            `SELECT count(*)::int AS n FROM users
            WHERE organization_id = $1 AND role = 'admin' AND NOT disabled`,
            [organization.id],
          )
        )[0].n as number;
      for (let round = 0; round < 5; round++) {
        const [a, b] = await Promise.all([
          newUser(db, { organizationId: organization.id, role: Role.Admin }),
          newUser(db, { organizationId: organization.id, role: Role.Admin }),
        ]);
        const outcomes = await Promise.all([
          errorCode(users.update(asKey, a.id, { role: Role.Staff })),
          errorCode(
            round % 2 ? users.remove(asKey, b.id) : users.update(asKey, b.id, { disabled: true }),
          ),
        ]);
        expect({ round, outcomes: outcomes.sort() }).toEqual({
          round,
          outcomes: ['last_admin', 'resolved'],
        });
        expect(await enabledAdmins()).toBe(1);
        // The one left: neither demoted, disabled nor deleted.
        const [left] = await db.query(
          `SELECT id FROM users WHERE organization_id = $1 AND role = 'admin' AND NOT disabled`,
          [organization.id],
        );
        for (const change of [
          users.update(asKey, left.id, { role: Role.User }),
          users.update(asKey, left.id, { disabled: true }),
          users.remove(asKey, left.id),
        ]) {
          expect(await errorCode(change)).toBe('last_admin');
        }
        // Renamed, or given a password, it may be.
        expect(await errorCode(users.update(asKey, left.id, { full_name: 'Still here' }))).toBe(
          'resolved',
        );
        await db.query('DELETE FROM users WHERE organization_id = $1', [organization.id]);
      }
    });

    it('does not bring back a user whose deletion an edit raced', async () => {
      for (let round = 0; round < 10; round++) {
        const { id } = await newUser(db, { organizationId });
        await settle([
          ...Array.from({ length: 3 }, () => users.update(ctx, id, { full_name: 'Edited' })),
          users.remove(ctx, id),
        ]);
        expect({ round, left: await row(id) }).toEqual({ round, left: undefined });
        await expect(users.update(ctx, id, { full_name: 'x' })).rejects.toMatchObject({
          code: 'user_not_found',
        });
      }
    });
  },
);
