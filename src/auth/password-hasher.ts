import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { argon2id, hash as argon2Hash, verify as argon2Verify } from 'argon2';

/**
 * Argon2id, OWASP's minimum recommendation (19 MiB, 2 passes, 1 lane): about 30-50 ms a hash on
 * this class of machine. The only file that imports argon2.
 */
const OPTIONS = { type: argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

@Injectable()
export class PasswordHasher {
  /** A hash of a random password, verified when the account does not exist: same cost, same time. */
  private readonly decoy = argon2Hash(randomBytes(24).toString('base64url'), OPTIONS);

  hash(password: string): Promise<string> {
    return argon2Hash(password, OPTIONS);
  }

  /** Verifies against the stored hash, or against the decoy when there is none. */
  async verify(storedHash: string | undefined, password: string): Promise<boolean> {
    try {
      return await argon2Verify(storedHash ?? (await this.decoy), password);
    } catch {
      return false;
    }
  }
}
