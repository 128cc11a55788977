import { parseCommand, USAGE, UsageError, usageErrorText } from './cli-commands';

// The database's code, recorded if anything loads it: a command's arguments are checked before
// it is (test/e2e/cli.e2e-spec.ts runs the CLI itself, on a data folder that must stay absent).
const mockLoaded: string[] = [];
jest.mock('typeorm', () => (mockLoaded.push('typeorm'), {}));
jest.mock('pg', () => (mockLoaded.push('pg'), {}));
jest.mock('@electric-sql/pglite', () => (mockLoaded.push('@electric-sql/pglite'), {}));
jest.mock('../auth/accounts.cli', () => (mockLoaded.push('accounts.cli'), {}));
jest.mock('../config/app-config.module', () => (mockLoaded.push('app-config.module'), {}));

/** The usage error parseCommand() throws for these arguments, as the CLI prints it on stderr. */
async function refusal(args: readonly string[]): Promise<string> {
  const error: unknown = await parseCommand([...args]).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof UsageError)) throw new Error(`not refused: ${args.join(' ')}`);
  return usageErrorText(error);
}

/** The arguments as a test's name, a long value cut short. */
const shown = (args: readonly string[]) =>
  args
    .map((arg) => (arg.length > 40 ? `${Array.from(arg).slice(0, 30).join('')}…` : arg))
    .join(' ');

const user = ['create-user', '--email=new@acme.example', '--username=new', '--role=staff'];

/** Each refusal (exit 2, the message then the usage on stderr) and the fragment its message has. */
const REFUSALS: [args: readonly string[], message: string][] = [
  [['reset-password'], '--user is required'],
  [['reset-password', '--user'], "Option '--user <value>' argument missing"],
  [['reset-password', '--usr=admin'], "Unknown option '--usr'"],
  [['reset-password', '--user=admin', '--password=short'], '--password: password must be longer'],
  // Each command takes its own options only: reset-password has no --role to ignore.
  [['reset-password', '--user=admin', '--role=admin'], "'--role'"],
  // The API's password rule (CreateUserDto's), naming the option.
  [
    ['reset-password', '--user=admin', `--password=${'x'.repeat(1025)}`],
    '--password: password must be shorter than or equal to 1024',
  ],
  // What the API would refuse to create, the CLI refuses too, naming the option.
  [[...user.slice(0, 1), '--email=nobody', ...user.slice(2)], '--email: email must be an email'],
  [[...user.slice(0, 2), '--username=a b', ...user.slice(3)], '--username: username must be'],
  [[...user, `--full-name=${'x'.repeat(201)}`], '--full-name: full_name must be shorter'],
  [[...user, '--org=Not A Slug'], '--org must be 1 to 100 lower-case letters'],
  [[...user.slice(0, 3), '--role=root'], '--role must be one of: admin, staff, user'],
  [[...user.slice(0, 3)], '--role is required'],
  [['create-user', '--org=junk', '--email=y@cli.example', '--role=user'], '--email and --username'],
  [['create-api-key'], '--name is required'],
  [['create-api-key', `--name=${'k'.repeat(101)}`], '--name: name must be shorter'],
  [['create-api-key', '--name=k', '--scopes=images:read,images:read'], '--scopes: '],
  [['create-api-key', '--name=k', '--scopes=images:peek'], '--scopes must be one of: '],
  [['create-api-key', '--name=k', '--org-name= '], '--org-name must be 1 to 200 characters'],
  // An empty date is no date, as the API refuses "" (not a key that never expires).
  [['create-api-key', '--name=k', '--expires-at='], '--expires-at: expires_at must be'],
  // What the service refuses without reading the database: refused before the organisation is
  // created.
  [
    ['create-api-key', '--name=k', '--expires-at=2020-01-01T00:00:00Z', '--org=fresh'],
    '--expires-at: must be in the future',
  ],
  [
    ['create-api-key', '--name=k', '--role=user', '--scopes=images:write', '--org=fresh'],
    '--scopes: not allowed for role user: images:write',
  ],
  // Counted and refused as the API does: "❤️" is two characters; a C1 control is one.
  [['create-api-key', `--name=${'\u2764\ufe0f'.repeat(51)}`], '--name: name must be shorter'],
  [['create-api-key', '--name=k', '--org-name=a\u0085b'], '--org-name must be 1 to 200'],
  // A name that shows as nothing, as the API refuses a product's or a key's.
  [['create-api-key', '--name=k', '--org-name=\u200b\u202e'], '--org-name must be 1 to 200'],
  [['create-api-key', '--name=\u200b'], '--name: name must contain a visible character'],
  // The slug twice, the same: a slip cannot erase another catalogue.
  [['delete-organization'], '--org and --confirm are required'],
  [['delete-organization', '--org=leaving'], '--org and --confirm are required'],
  [['delete-organization', '--org=leaving', '--confirm=acme'], '--confirm must repeat --org'],
  [['renditions:rebuild', '--org=acme'], 'renditions:rebuild takes no options: --org=acme'],
  [['frobnicate', '--org=junk'], 'Unknown command: frobnicate'],
  // An option given twice is a slip, not "the last one": here it would reset the admin's password,
  // or erase another organisation.
  [['reset-password', '--user=ops', '--user', 'admin'], '--user is given twice'],
  [[...user, '--role=admin'], '--role is given twice'],
  [
    ['delete-organization', '--org=a', '--confirm=a', '--org=b', '--confirm=b'],
    '--org is given twice',
  ],
  // Bytes that are not UTF-8 arrive as U+FFFD: not stored as if they had been typed.
  [[...user, '--password=pass\ufffdword12345'], '--password: holds U+FFFD'],
  [['reset-password', '--user=admin\ufffd'], '--user: holds U+FFFD'],
  [['create-api-key', '--name=k', '--org-name=Ac\ufffdme'], '--org-name: holds U+FFFD'],
  // An empty scope (an empty shell variable) would make a key refused everything.
  [['create-api-key', '--name=k', '--scopes='], '--scopes: an empty scope'],
  [['create-api-key', '--name=k', '--scopes=images:read,,images:write'], '--scopes: an empty'],
  [['create-api-key', '--name=k', '--scopes= '], '--scopes: an empty scope'],
];

describe(parseCommand.name, () => {
  afterEach(() => expect(mockLoaded).toEqual([]));

  it.each(REFUSALS.map(([args, message]) => [shown(args), message, args] as const))(
    'refuses %s: %s, then the usage',
    async (_shown, message, args) => {
      const text = await refusal(args);
      expect(text).toContain(message);
      expect(text.endsWith(`\n\n${USAGE}\n`)).toBe(true);
      expect(text).toContain('reset-password  --user USERNAME|EMAIL');
    },
  );

  it('names the option a refused value came in, one line per rule broken', async () => {
    const text = await refusal(['create-user', '--email=nobody', '--username=a b', '--role=user']);
    expect(text.split('\n\n')[0].split('\n')).toEqual([
      '--email: email must be an email',
      expect.stringMatching(/^--username: username must be/),
    ]);
  });

  it('answers --help, anywhere, with the usage', async () => {
    for (const args of [[], ['--help'], ['help'], ['reset-password', '--help']]) {
      expect(await parseCommand(args)).toEqual({ kind: 'help' });
    }
    expect(USAGE).toContain('Usage: npm run -s cli -- <command>');
    expect(USAGE).toContain('tokens issued before');
  });

  it('returns what a valid command will do, without opening anything yet', async () => {
    for (const args of [
      [...user, '--org=acme', '--org-name=Acme Inc.', '--password=a long cli password'],
      ['create-api-key', '--name=k', '--role=user', '--scopes=images:read', '--org=acme'],
      ['create-api-key', '--name=k', '--expires-at=2999-01-01T00:00:00Z'],
      ['reset-password', '--user=admin'],
      ['reset-password', '--user=OPS@Acme.Example', '--org=acme', '--password=a long password'],
    ]) {
      expect(await parseCommand(args)).toEqual({ kind: 'accounts', work: expect.any(Function) });
    }
    expect(await parseCommand(['delete-organization', '--org=gone', '--confirm=gone'])).toEqual({
      kind: 'delete-organization',
      org: 'gone',
    });
    expect(await parseCommand(['renditions:rebuild'])).toEqual({ kind: 'renditions:rebuild' });
  });
});
