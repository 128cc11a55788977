import { Injectable } from '@nestjs/common';
import * as argon2 from 'argon2';

/**
 * Argon2id, OWASP's minimum recommendation (19 MiB, 2 passes, 1 lane): about 30-50 ms a hash on
 * this class of machine. The only file that imports argon2.
 */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

@Injectable()
export class PasswordHasher {
  /** A hash of a random password, verified when the account does not exist: same cost, same time. */
  private readonly decoy = argon2.hash(`decoy-${Math.random()}-${Date.now()}`, OPTIONS);

  hash(password: string): Promise<string> {
    return argon2.hash(password, OPTIONS);
  }

  /** Verifies against the stored hash, or against a decoy when there is none. */
  async verify(hash: string | undefined, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash ?? (await this.decoy), password);
    } catch {
      return false;
    }
  }
}
