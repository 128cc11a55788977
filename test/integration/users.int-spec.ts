import type { DataSource } from 'typeorm';
import { AuthModule } from '../../src/auth/auth.module';
import type { RequestContext } from '../../src/auth/principal';
import { Role } from '../../src/auth/roles';
import { UsersService } from '../../src/auth/users.service';
import { AppError } from '../../src/common/errors/app.error';
import { contextFor, newOrganization, newUser } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** Settles every promise; an AppError (404, say) is an expected outcome of a race. */
async function settle(work: Promise<unknown>[]): Promise<void> {
  for (const r of await Promise.allSettled(work)) {
    if (r.status === 'rejected' && !(r.reason instanceof AppError)) throw r.reason;
  }
}

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
