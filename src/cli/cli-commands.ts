import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { ClassConstructor } from 'class-transformer';
import type { DataSource, EntityManager } from 'typeorm';
import type { AccountsService } from '../auth/accounts.service';
import { DEFAULT_ORGANIZATION_SLUG } from '../auth/default-organization';
import type { User } from '../auth/entities/user.entity';
import { generatePassword } from '../auth/generated-password';
import { Role, Scope, scopesBeyondRole } from '../auth/roles';
import { AppError } from '../common/errors/app.error';

// The CLI's commands as far as their arguments: parseCommand() checks them and says what is to be
// done, opening nothing. What a command needs is loaded when it runs, not here (see src/cli.ts,
// which does it): --help and a usage error cost no database code, the API's rules (its DTOs) are
// loaded once the options parse.

export const USAGE = `Usage: npm run -s cli -- <command> [options]

Commands:
  create-user     --email E --username U --role admin|staff|user
                  [--full-name N] [--password P] [--org SLUG] [--org-name NAME]
                  Creates a user (and the organisation, if new: then with --org-name). Without
                  --password, a strong password is generated and printed once.
  create-api-key  --name N [--role admin|staff|user] [--scopes a,b] [--expires-at ISO-8601]
                  [--org SLUG] [--org-name NAME]
                  Creates an API key (and the organisation, if new: then with --org-name) and
                  prints it once.
  reset-password  --user USERNAME|EMAIL [--password P] [--org SLUG]
                  Sets a new password for the user (of the organisation). Without --password, a
                  strong password is generated and printed once. The user's tokens issued before
                  are refused from then on (as after a password change through the API); their
                  API keys stay.
  renditions:rebuild
                  Re-makes the renditions of every image made with other presets than
                  IMAGE_RENDITIONS (or follows the run already doing it): progress on stderr
                  until it is over, then the run as JSON. This process works the jobs too,
                  beside any running service. Exits 1 if an image failed or the run was
                  superseded.
  delete-organization --org SLUG --confirm SLUG
                  Deletes the organisation and everything of it: products, images, imports,
                  users, API keys; queues the deletion of its files, which the service's workers
                  do. Prints what was deleted. The slug twice, so that a slip cannot erase
                  another catalogue; no default organisation here.

--org defaults to "${DEFAULT_ORGANIZATION_SLUG}". The database is the one the service uses
(DATABASE_URL, or the embedded one under DATA_DIR); stop the service first when it is embedded.`;

/** Bad arguments: the CLI prints usageErrorText() on stderr, and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** What the CLI prints for a usage error: the message, then the usage. */
export function usageErrorText(error: UsageError): string {
  return `${error.message}\n\n${USAGE}\n`;
}

/** What the accounts' commands do once the accounts' stack is open (src/auth/accounts.cli.ts). */
export type AccountsWork = (accounts: AccountsService, database: DataSource) => Promise<void>;

/** A command whose arguments passed: what the CLI is to do, nothing of it done yet. */
export type CliAction =
  | { kind: 'help' }
  | { kind: 'accounts'; work: AccountsWork }
  | { kind: 'renditions:rebuild' }
  | { kind: 'delete-organization'; org: string };

/**
 * The command of the CLI's arguments (`process.argv.slice(2)`), its options checked: a UsageError
 * for anything it refuses, before any database is opened.
 */
export async function parseCommand(argv: string[]): Promise<CliAction> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help' || rest.includes('--help')) {
    return { kind: 'help' };
  }
  if (command === 'renditions:rebuild') {
    if (rest.length > 0) fail(`renditions:rebuild takes no options: ${rest.join(' ')}`);
    return { kind: 'renditions:rebuild' };
  }
  if (command === 'delete-organization') return deleteOrganization(rest);
  if (!Object.hasOwn(COMMANDS, command)) fail(`Unknown command: ${command}`);
  return { kind: 'accounts', work: await COMMANDS[command](rest) };
}

function fail(message: string): never {
  throw new UsageError(message);
}

/** Its --org has no default: the organisation to erase is always named, twice. */
function deleteOrganization(args: string[]): CliAction {
  const values = parseOptions(args, { org: TEXT, confirm: TEXT });
  const { org, confirm } = values;
  if (!org || !confirm) fail('--org and --confirm are required, both naming the organisation');
  if (confirm !== org) fail('--confirm must repeat --org exactly: nothing was deleted');
  return { kind: 'delete-organization', org };
}

/** The API's rule for passwords (CreateUserDto's), so the CLI cannot set one the API would refuse. */
async function checkPassword(password: string | undefined): Promise<void> {
  if (password === undefined) return;
  // One import after the other: Nest's packages are ES modules, which two imports at once would
  // race to load (see main.ts).
  const { CreateUserDto } = await import('../auth/dto/user.dto.js');
  const { PickType } = await import('@nestjs/swagger');
  class PasswordInput extends PickType(CreateUserDto, ['password'] as const) {}
  await checkAsApi(PasswordInput, { password });
}

/**
 * The API's rules for what the command creates (its request DTO, NUL characters included), so the
 * CLI makes nothing the API would refuse: a usage error (exit 2) naming each option, before the
 * database is opened. Returns the input as the API reads it (a date parsed as there).
 */
async function checkAsApi<T extends object>(type: ClassConstructor<T>, input: object): Promise<T> {
  const { validateInput } = await import('../common/http/validation.js');
  try {
    return validateInput(type, input);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    const option = (field: string) => `--${field.split('.')[0].replace(/_/g, '-')}`;
    fail(error.errors.map((e) => `${option(e.field)}: ${e.message}`).join('\n'));
  }
}

/** An organisation the CLI may create: a slug of lower-case letters, digits and dashes. */
async function checkOrganization(values: { org: string; 'org-name'?: string }): Promise<void> {
  const { isDisplayText, isVisibleText } = await import('../common/http/display-text.js');
  const { codePointLength } = await import('../common/http/max-length.js');
  if (!/^[a-z0-9][a-z0-9-]{0,99}$/.test(values.org)) {
    fail('--org must be 1 to 100 lower-case letters, digits or "-" (not first)');
  }
  const name = values['org-name'];
  if (
    name !== undefined &&
    // As the API counts and refuses the characters of a name (its varchar(200), its display rule).
    (name.trim() === '' ||
      codePointLength(name) > 200 ||
      !isDisplayText(name) ||
      !isVisibleText(name.trim()))
  ) {
    fail(
      '--org-name must be 1 to 200 characters, without control characters, showing something ' +
        '(not only invisible characters such as zero-width spaces)',
    );
  }
}

/**
 * The organisation of --org, created with --org-name if new (the default one, also without). A new
 * --org without --org-name is refused (exit 1, nothing created): `--org acme-shp`, a slip, made an
 * organisation of its own, and a key or user in it that saw an empty catalogue. An --org-name
 * other than an existing organisation's name is refused too: it names a new organisation only,
 * and an operator who typed one meant an organisation that is not there.
 */
async function organizationFor(
  accounts: AccountsService,
  values: { org: string; 'org-name'?: string },
  manager: EntityManager,
): Promise<{ id: string }> {
  const name = values['org-name'];
  const known = await accounts.findOrganization(values.org, manager);
  if (!known && name === undefined && values.org !== DEFAULT_ORGANIZATION_SLUG) {
    throw new AppError(
      'not_found',
      `No organisation "${values.org}": give --org-name to create it. Nothing was created.`,
    );
  }
  const org = known ?? (await accounts.findOrCreateOrganization(values.org, name, manager));
  if (name !== undefined && org.name !== name) {
    throw new AppError(
      'conflict',
      `Organisation "${org.slug}" exists, named "${org.name}", not "${name}": --org-name names a ` +
        'new organisation only (leave it out, or give its name). Nothing was created.',
    );
  }
  return org;
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

/**
 * The command's own options: one it does not take (`reset-password --role`), or one without its
 * value, is a usage error (exit 2), like a missing argument. So is one given twice (parseArgs
 * would keep the last: `reset-password --user ops --user admin` reset the admin's password), and
 * a value with U+FFFD, what Node.js makes of bytes that are not UTF-8: two passwords differing
 * only in such bytes would be one, and it could not be typed again through the API.
 */
function parseOptions<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  let parsed;
  try {
    parsed = parseArgs({ args, strict: true, options, tokens: true });
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  const given = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    if (given.has(token.name)) fail(`--${token.name} is given twice: give each option once`);
    given.add(token.name);
    if (token.value?.includes('\uFFFD')) {
      fail(
        `--${token.name}: holds U+FFFD, the character bytes that are not UTF-8 are read as: ` +
          'give the value in UTF-8',
      );
    }
  }
  return parsed.values;
}

const TEXT = { type: 'string' } as const;
/**
 * The organisation a command works in, created by create-user and create-api-key if new and
 * named (see organizationFor).
 */
const ORG = { org: { type: 'string', default: DEFAULT_ORGANIZATION_SLUG } } as const;

/**
 * A command checks its arguments (a UsageError for a refused one) and returns what it will do with
 * the accounts: nothing is opened, let alone written, for a refused command. What it creates, it
 * creates in one transaction (a new organisation included), so that what the database refuses
 * (an email already in use) leaves nothing behind.
 */
type Command = (args: string[]) => Promise<AccountsWork>;

const createUser: Command = async (args) => {
  const values = parseOptions(args, {
    email: TEXT,
    username: TEXT,
    'full-name': TEXT,
    password: TEXT,
    role: TEXT,
    ...ORG,
    'org-name': TEXT,
  });
  const role = oneOf(values.role, Object.values(Role), 'role') ?? fail('--role is required');
  const { email, username } = values;
  if (!email || !username) fail('--email and --username are required');
  const password = values.password ?? generatePassword();
  const { CreateUserDto, UserDto } = await import('../auth/dto/user.dto.js');
  await checkAsApi(CreateUserDto, {
    email,
    username,
    full_name: values['full-name'],
    password,
    role,
  });
  await checkOrganization(values);
  return async (accounts, database) => {
    const user = await database.transaction(async (manager) => {
      const org = await organizationFor(accounts, values, manager);
      const input = { email, username, fullName: values['full-name'], password, role };
      return accounts.createUser(org.id, input, manager);
    });
    printUser(UserDto, user, values.password ? undefined : password);
  };
};

const createApiKey: Command = async (args) => {
  const values = parseOptions(args, {
    name: TEXT,
    role: TEXT,
    scopes: TEXT,
    'expires-at': TEXT,
    ...ORG,
    'org-name': TEXT,
  });
  const { name } = values;
  if (!name) fail('--name is required');
  // An empty item (`--scopes=`, `a,,b`) is refused, as the API refuses "" among the scopes: a key
  // made with no scopes from an empty shell variable would be refused everything.
  const scopes = values.scopes
    ?.split(',')
    .map((s) => s.trim())
    .map((s) => (s === '' ? fail('--scopes: an empty scope') : s))
    .map((s) => oneOf(s, Object.values(Scope), 'scopes')!);
  const role = oneOf(values.role, Object.values(Role), 'role');
  // The option's text as a JSON body's string: an empty one is refused, as the API refuses "" (it
  // is not "never", which is leaving the option out).
  const { ApiKeyDto, CreateApiKeyDto } = await import('../auth/dto/api-key.dto.js');
  const expiresAt = (
    await checkAsApi(CreateApiKeyDto, {
      name,
      role,
      scopes,
      expires_at: values['expires-at'],
    })
  ).expires_at;
  // What AccountsService would refuse once the organisation exists, refused before it is made.
  if (expiresAt && expiresAt.getTime() <= Date.now()) fail('--expires-at: must be in the future');
  const keyRole = role ?? Role.Staff;
  const beyond = scopesBeyondRole(keyRole, scopes ?? []);
  if (beyond.length > 0) fail(`--scopes: not allowed for role ${keyRole}: ${beyond.join(', ')}`);
  await checkOrganization(values);
  return async (accounts, database) => {
    const { apiKey, key } = await database.transaction(async (manager) => {
      const org = await organizationFor(accounts, values, manager);
      return accounts.createApiKey(org.id, { name, role, scopes, expiresAt }, manager);
    });
    process.stdout.write(`${JSON.stringify({ ...ApiKeyDto.from(apiKey), key }, null, 2)}\n`);
  };
};

/** Never creates the organisation: in an unknown one, the user is unknown (exit 1). */
const resetPassword: Command = async (args) => {
  const values = parseOptions(args, { user: TEXT, password: TEXT, ...ORG });
  const { user } = values;
  if (!user) fail('--user is required (a username or an email address)');
  await checkPassword(values.password);
  const password = values.password ?? generatePassword();
  return async (accounts) => {
    const updated = await accounts.resetPassword(values.org, user, password);
    const { UserDto } = await import('../auth/dto/user.dto.js');
    printUser(UserDto, updated, values.password ? undefined : password);
  };
};

/** The user as JSON, with the password when the CLI generated it (shown this once). */
function printUser(
  dto: { from(user: User): object },
  user: User,
  generatedPassword: string | undefined,
): void {
  const out: Record<string, unknown> = { ...dto.from(user) };
  if (generatedPassword) out.password = generatedPassword;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

const COMMANDS: Record<string, Command> = {
  'create-user': createUser,
  'create-api-key': createApiKey,
  'reset-password': resetPassword,
};
