import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AccountsService } from '../../src/auth/accounts.service';
import { Role } from '../../src/auth/roles';
import { call, login, type Credential } from './http';

export const TEST_PASSWORD = 'correct horse battery staple';

/** A user created through the API by an admin, logged in. */
export async function addUser(
  app: NestFastifyApplication,
  admin: Credential,
  username: string,
  role: Role,
): Promise<Credential> {
  const res = await call(app, 'POST', '/api/v1/users', admin, {
    email: `${username}@test.example`,
    username,
    password: TEST_PASSWORD,
    role,
  });
  if (res.statusCode !== 201)
    throw new Error(`creating ${username}: ${res.statusCode} ${res.body}`);
  return { bearer: await login(app, { username }, TEST_PASSWORD) };
}

/** The admin of another organisation (made as the CLI would), logged in. */
export async function otherOrganisationAdmin(
  app: NestFastifyApplication,
  slug: string,
  username: string,
): Promise<Credential> {
  const accounts = app.get(AccountsService);
  const org = await accounts.findOrCreateOrganization(slug);
  await accounts.createUser(org.id, {
    email: `${username}@${slug}.example`,
    username,
    password: TEST_PASSWORD,
    role: Role.Admin,
  });
  return { bearer: await login(app, { username }, TEST_PASSWORD) };
}

/** Every file below a directory (none if it does not exist). */
export function filesBelow(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesBelow(join(dir, e.name)) : [join(dir, e.name)],
  );
}
