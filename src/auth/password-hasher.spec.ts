import { PasswordHasher } from './password-hasher';

/** Cost parameters of an Argon2 PHC string: `$argon2id$v=19$m=19456,p=1,t=2$…`. */
const costOf = (hash: string): string => hash.split('$').slice(1, 4).join('$');

describe(PasswordHasher.name, () => {
  const hasher = new PasswordHasher();

  it('hashes with Argon2id and verifies only the right password', async () => {
    const hash = await hasher.hash('correct horse');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    await expect(hasher.verify(hash, 'correct horse')).resolves.toBe(true);
    await expect(hasher.verify(hash, 'wrong horse')).resolves.toBe(false);
    await expect(hasher.verify('not a hash', 'x')).resolves.toBe(false);
  });

  it('does the same Argon2 work for an unknown account as for a wrong password', async () => {
    // Observed, not replaced: the real argon2.verify runs in both cases.
    const argon2 = jest.requireActual<typeof import('argon2')>('argon2');
    const verify = jest.spyOn(argon2, 'verify');
    try {
      const real = await hasher.hash('correct horse');
      await expect(hasher.verify(real, 'wrong')).resolves.toBe(false);
      await expect(hasher.verify(undefined, 'wrong')).resolves.toBe(false);
      expect(verify).toHaveBeenCalledTimes(2);
      const [[knownHash], [decoyHash]] = verify.mock.calls;
      expect(decoyHash).not.toBe(knownHash);
      expect(costOf(decoyHash)).toBe(costOf(knownHash));
    } finally {
      verify.mockRestore();
    }
  });
});
