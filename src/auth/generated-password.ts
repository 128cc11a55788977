import { randomBytes } from 'node:crypto';

/**
 * A password for an account whose owner did not choose one (shown once, never stored). Apart from
 * AccountsService, so that the CLI checks its options without loading the database's code.
 */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
