import type { Repository } from 'typeorm';
import type { User } from './entities/user.entity';
import { loginAccountOf, loginAccountTracker } from './login-account-tracker';

const ALICE = {
  id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  email: 'alice@x.example',
  username: 'alice',
};

/** A users repository holding Alice, recording each lookup. */
function users() {
  const lookups: Record<string, string>[] = [];
  const repository = {
    findOne: ({ where }: { where: Record<string, string> }) => {
      lookups.push(where);
      const [[field, value]] = Object.entries(where);
      return Promise.resolve(
        ALICE[field as 'email' | 'username'] === value ? { id: ALICE.id } : null,
      );
    },
  } as unknown as Repository<User>;
  return { repository, lookups };
}

describe(loginAccountTracker.name, () => {
  it('counts an account once, whichever of its identifiers is sent', async () => {
    const { repository } = users();
    const trackers = await Promise.all(
      [{ email: 'alice@x.example' }, { username: 'alice' }, { email: ' ALICE@X.example ' }].map(
        (body) => loginAccountTracker(repository, body),
      ),
    );
    expect(new Set(trackers)).toEqual(new Set([`user:${ALICE.id}`]));
  });

  it('reads the identifier as login does: the email when both are given', async () => {
    const { repository, lookups } = users();
    await loginAccountTracker(repository, { email: 'someone@x.example', username: 'alice' });
    expect(lookups).toEqual([{ email: 'someone@x.example' }]);
  });

  it('counts an unknown identifier by its name, after the same one lookup', async () => {
    const { repository, lookups } = users();
    expect(await loginAccountTracker(repository, { email: 'Nobody@x.example' })).toBe(
      'name:nobody@x.example',
    );
    expect(lookups).toHaveLength(1);
  });

  it('looks nothing up for an identifier no account can have', async () => {
    const { repository, lookups } = users();
    const impossible = [
      {},
      { email: '   ' },
      { username: 'a\u0000b' },
      { username: 'u'.repeat(151) },
      { email: `${'e'.repeat(320)}@x` },
      { email: 42 },
    ];
    for (const body of impossible) {
      expect(await loginAccountTracker(repository, body)).toMatch(/^name:/);
    }
    expect(lookups).toEqual([]);
  });

  it('never lets a name pass for an account', async () => {
    const { repository } = users();
    expect(await loginAccountTracker(repository, { username: `user:${ALICE.id}` })).toBe(
      `name:user:${ALICE.id}`,
    );
  });
});

describe(loginAccountOf.name, () => {
  it('normalises the identifier and bounds its length', () => {
    expect(loginAccountOf({ username: ' Alice ' })).toBe('alice');
    expect(loginAccountOf({ email: 'x'.repeat(1000) })).toHaveLength(320);
    expect(loginAccountOf(null)).toBe('');
  });
});
