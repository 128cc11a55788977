import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AccountsService, generatePassword } from './auth/accounts.service';
import { DEFAULT_ORGANIZATION_SLUG } from './auth/admin-bootstrap.service';
import { AuthModule } from './auth/auth.module';
import { ApiKeyDto } from './auth/dto/api-key.dto';
import { UserDto } from './auth/dto/user.dto';
import { Role, Scope } from './auth/roles';
import { AppError } from './common/errors/app.error';
import { loadAppConfig } from './config/app-config.module';
import { ConfigValidationError } from './config/env.validation';
import { DatabaseModule } from './database/database.module';

const USAGE = `Usage: npm run cli -- <command> [options]

Commands:
  create-user     --email E --username U --role admin|staff|user
                  [--full-name N] [--password P] [--org SLUG] [--org-name NAME]
                  Creates a user (and the organisation, if new). Without --password, a strong
                  password is generated and printed once.
  create-api-key  --name N [--role admin|staff|user] [--scopes a,b] [--expires-at ISO-8601]
                  [--org SLUG]
                  Creates an API key and prints it once.

--org defaults to "${DEFAULT_ORGANIZATION_SLUG}". The database is the one the service uses
(DATABASE_URL, or the embedded one under DATA_DIR); stop the service first when it is embedded.`;

/** Warnings and errors to stderr: stdout carries only the command's JSON result. */
class StderrLogger implements LoggerService {
  log(): void {}
  warn(message: unknown): void {
    process.stderr.write(`warning: ${String(message)}\n`);
  }
  error(message: unknown): void {
    process.stderr.write(`error: ${String(message)}\n`);
  }
}

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) fail(`--${name} must be one of: ${allowed.join(', ')}`);
  return value as T;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      email: { type: 'string' },
      username: { type: 'string' },
      'full-name': { type: 'string' },
      password: { type: 'string' },
      role: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      'expires-at': { type: 'string' },
      org: { type: 'string', default: DEFAULT_ORGANIZATION_SLUG },
      'org-name': { type: 'string' },
    },
  });

  const config = await loadAppConfig();
  @Module({ imports: [config.module, DatabaseModule, AuthModule] })
  class CliModule {}
  const app = await NestFactory.createApplicationContext(CliModule, {
    logger: new StderrLogger(),
    abortOnError: false,
  });
  try {
    const accounts = app.get(AccountsService);
    // Arguments are checked before anything is written: a refused command leaves no organisation.
    const organization = () => accounts.findOrCreateOrganization(values.org, values['org-name']);
    if (command === 'create-user') {
      const role = oneOf(values.role, Object.values(Role), 'role') ?? fail('--role is required');
      if (!values.email || !values.username) fail('--email and --username are required');
      const password = values.password ?? generatePassword();
      const org = await organization();
      const user = await accounts.createUser(org.id, {
        email: values.email,
        username: values.username,
        fullName: values['full-name'],
        password,
        role,
      });
      const out: Record<string, unknown> = { ...UserDto.from(user) };
      if (!values.password) out.password = password;
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else if (command === 'create-api-key') {
      if (!values.name) fail('--name is required');
      const scopes = values.scopes
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => oneOf(s, Object.values(Scope), 'scopes')!);
      const expiresAt = values['expires-at'] ? new Date(values['expires-at']) : undefined;
      if (expiresAt && Number.isNaN(expiresAt.getTime()))
        fail('--expires-at must be an ISO-8601 date');
      const role = oneOf(values.role, Object.values(Role), 'role');
      const org = await organization();
      const { apiKey, key } = await accounts.createApiKey(org.id, {
        name: values.name,
        role,
        scopes,
        expiresAt,
      });
      process.stdout.write(`${JSON.stringify({ ...ApiKeyDto.from(apiKey), key }, null, 2)}\n`);
    } else {
      fail(`Unknown command: ${command}`);
    }
  } finally {
    await app.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigValidationError) process.stderr.write(`${err.message}\n`);
  else if (err instanceof AppError) process.stderr.write(`${err.code}: ${err.detail}\n`);
  else process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
