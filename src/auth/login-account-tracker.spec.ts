import { loginAccountOf, loginAccountTracker } from './login-account-tracker';
import type { LoginAddressesRepository } from './login-addresses.repository';

const ALICE = {
  id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  email: 'alice@x.example',
  username: 'alice',
};

/** Alice's home address: she logged in from it lately. */
const HOME = '203.0.113.7';
const ELSEWHERE = '198.51.100.9';

/**
 * The accounts as LoginAddressesRepository reads them (its SQL is exercised by the login-limit
 * end-to-end tests): Alice, who logged in from HOME. Records each lookup.
 */
function users() {
  const lookups: Record<string, string>[] = [];
  const repository = {
    account: (field: 'email' | 'username', value: string, address: string) => {
      lookups.push({ [field]: value });
      return Promise.resolve(
        ALICE[field] === value ? { id: ALICE.id, known: address === HOME } : null,
      );
    },
  } as unknown as LoginAddressesRepository;
  return { repository, lookups };
}

describe(loginAccountTracker.name, () => {
  it('counts an account once, whichever of its identifiers is sent', async () => {
    const { repository } = users();
    const trackers = await Promise.all(
      [{ email: 'alice@x.example' }, { username: 'alice' }, { email: ' ALICE@X.example ' }].map(
        (body) => loginAccountTracker(repository, body, ELSEWHERE),
      ),
    );
    expect(new Set(trackers)).toEqual(new Set([`user:${ALICE.id}`]));
  });

  it('reads the identifier as login does: the email when both are given', async () => {
    const { repository, lookups } = users();
    await loginAccountTracker(
      repository,
      { email: 'someone@x.example', username: 'alice' },
      ELSEWHERE,
    );
    expect(lookups).toEqual([{ email: 'someone@x.example' }]);
  });

  it('counts an unknown identifier by its name, after the same one lookup', async () => {
    const { repository, lookups } = users();
    expect(await loginAccountTracker(repository, { email: 'Nobody@x.example' }, HOME)).toBe(
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
      expect(await loginAccountTracker(repository, body, ELSEWHERE)).toMatch(/^name:/);
    }
    expect(lookups).toEqual([]);
  });

  it('never lets a name pass for an account', async () => {
    const { repository } = users();
    expect(await loginAccountTracker(repository, { username: `user:${ALICE.id}` }, ELSEWHERE)).toBe(
      `name:user:${ALICE.id}`,
    );
  });

  it('counts attempts from an address the account logged in from lately apart, by that address', async () => {
    const { repository } = users();
    expect(await loginAccountTracker(repository, { username: 'alice' }, HOME)).toBe(
      `user:${ALICE.id}@${HOME}`,
    );
    expect(await loginAccountTracker(repository, { username: 'alice' }, ELSEWHERE)).toBe(
      `user:${ALICE.id}`,
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
