import { statfsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { plainToInstance, Transform } from 'class-transformer';
import { CronExpressionParser } from 'cron-parser';
import {
  IsBoolean,
  IsEmail,
  IsEnum,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateBy,
  ValidateIf,
  validateSync,
  ValidationError,
} from 'class-validator';
import { MaxLength } from '../common/http/max-length';
import {
  COMPAT_API_NAMES,
  isListenHost,
  isOriginList,
  isServiceUrl,
  isTrustedProxyList,
} from './env-values';

export enum NodeEnv {
  Development = 'development',
  Production = 'production',
  Test = 'test',
}

export enum LogLevel {
  Fatal = 'fatal',
  Error = 'error',
  Warn = 'warn',
  Info = 'info',
  Debug = 'debug',
  Trace = 'trace',
  Silent = 'silent',
}

/** How logs are written: `auto` is `pretty` when stdout is a terminal, else `json`. */
export enum LogFormat {
  Auto = 'auto',
  Json = 'json',
  Pretty = 'pretty',
}

export enum StorageDriver {
  Local = 'local',
  S3 = 's3',
  Cloudinary = 'cloudinary',
}

/** What one process of the service does (see src/jobs/): HTTP, background jobs, or both. */
export enum ServiceRole {
  All = 'all',
  Api = 'api',
  Worker = 'worker',
}

/** The AWS SDK's checksum modes; S3-compatible stores (MinIO, s3rver, …) often need WHEN_REQUIRED. */
export enum S3ChecksumMode {
  WhenSupported = 'WHEN_SUPPORTED',
  WhenRequired = 'WHEN_REQUIRED',
}

const isS3 = (env: EnvironmentVariables): boolean => env.STORAGE_DRIVER === StorageDriver.S3;
const isCloudinary = (env: EnvironmentVariables): boolean =>
  env.STORAGE_DRIVER === StorageDriver.Cloudinary;
/** Cloudinary's credentials come from CLOUDINARY_URL, or else from the three separate settings. */
const needsCloudinaryParts = (env: EnvironmentVariables): boolean =>
  isCloudinary(env) && env.CLOUDINARY_URL === undefined;
const HTTP_URL = /^https?:\/\/[^\s/?#]+(\/[^\s?#]*[^\s?#/])?$/;
const HTTP_URL_RULE = 'must be an absolute http(s) URL without a trailing slash, query or fragment';
/**
 * The base of URLs the service hands to every client (in responses, the console's pages): as
 * HTTP_URL, and without a user name or password, which every client would then be given.
 */
const PUBLIC_URL = /^https?:\/\/[^\s/?#@]+(\/[^\s?#]*[^\s?#/])?$/;
const PUBLIC_URL_RULE =
  'must be an absolute http(s) URL without a user name or password, trailing slash, query or ' +
  'fragment (it is put in URLs given to clients)';
/** Key prefixes and folders: the characters of storage keys, ending with `/`. */
const FOLDER = /^([a-z0-9][a-z0-9._-]*\/)*$/;
const FOLDER_RULE =
  'must be empty or path segments of a-z, 0-9, ".", "_" and "-", each followed by "/" (e.g. shop/)';

const PORT_NUMBER = '([1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])';
const PORT_LIST = new RegExp(`^${PORT_NUMBER}(\\s*,\\s*${PORT_NUMBER})*$`);
const PORT_LIST_RULE = 'must be a comma-separated list of port numbers (1-65535), e.g. 80,443';
const ORIGIN_LIST_RULE =
  'a comma-separated list of origins as browsers send them: http(s)://host[:port], in lower ' +
  'case, without a path or trailing slash (e.g. https://shop.example)';
/** A test-only allowance: any value but `off` is refused when NODE_ENV=production. */
function OffInProduction(off: unknown, message: string): PropertyDecorator {
  return ValidateBy({
    name: 'offInProduction',
    validator: {
      validate: (value: unknown, args) =>
        (args?.object as EnvironmentVariables).NODE_ENV !== NodeEnv.Production || value === off,
      defaultMessage: () => message,
    },
  });
}

/** A URL the service connects to (isServiceUrl), without whitespace. */
function ServiceUrl(
  protocols: readonly string[],
  message: string,
  path: (pathname: string) => boolean = () => true,
  defaultHost: (env: EnvironmentVariables) => boolean = () => false,
): PropertyDecorator {
  return ValidateBy({
    name: 'serviceUrl',
    validator: {
      validate: (value: unknown, args) =>
        typeof value === 'string' &&
        !/\s/.test(value) &&
        isServiceUrl(value, protocols, defaultHost(args?.object as EnvironmentVariables)) &&
        path(new URL(value).pathname),
      defaultMessage: () => message,
    },
  });
}

/**
 * A Redis URL's path names a database by its number, or none (`/12`, `/`, nothing): ioredis sends
 * whatever follows the slash to SELECT, so `/12x` landed in database 12 and a typo elsewhere.
 */
function redisDatabasePath(pathname: string): boolean {
  return /^\/?(\d{1,5})?$/.test(pathname);
}

const COMPAT_APIS_PATTERN = new RegExp(
  `^(all|none|(${COMPAT_API_NAMES.join('|')})(\\s*,\\s*(${COMPAT_API_NAMES.join('|')}))*)$`,
);
const COMPAT_APIS_RULE = `must be all, none, or a comma-separated list of: ${COMPAT_API_NAMES.join(', ')}`;

/**
 * What DATA_DIR holds that must never be served: the embedded database (`pglite/`, see
 * database/data-source.options.ts), the development JWT secret (`jwt-secret`, auth/jwt-keys.ts)
 * the development URL signing key (`url-signing-key`, images/delivery/url-signer.ts) and the
 * upload spool (`tmp/`, images/image-upload.pipe.ts). A unit test keeps this list in step
 * with those files.
 */
export const DATA_DIR_PRIVATE_ENTRIES = ['pglite', 'jwt-secret', 'url-signing-key', 'tmp'] as const;

function isSameOrInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * The private entry of DATA_DIR (as `DATA_DIR/<entry>`) that a storage folder is, contains or
 * lies inside, or undefined when it keeps clear of them all. Paths are compared as written
 * (resolved against the working directory), not through symlinks.
 */
export function storageDirConflict(storageDir: string, dataDir: string): string | undefined {
  const storage = resolve(storageDir);
  const entry = DATA_DIR_PRIVATE_ENTRIES.find((name) => {
    const privatePath = resolve(dataDir, name);
    return isSameOrInside(storage, privatePath) || isSameOrInside(privatePath, storage);
  });
  return entry && `DATA_DIR/${entry}`;
}

/**
 * The kernel's own file systems (statfs types): procfs and sysfs, where no folder or file can be
 * made. procfs answers mkdir with ENOENT, on which Node's recursive mkdir retries for ever: a
 * DATA_DIR there spun at full CPU instead of failing.
 */
const KERNEL_FILE_SYSTEMS: ReadonlySet<number> = new Set([0x9fa0, 0x62656572]);

/**
 * What keeps `path` from being a folder the service can make and write, judged by the nearest of
 * it and its parents that exists: a file (the folders below it cannot be made), or a kernel file
 * system. Undefined when nothing does (a permission is found out by the first write).
 */
export function folderObstacle(path: string): 'file' | 'kernel' | undefined {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    let isFolder: boolean;
    try {
      isFolder = statSync(dir).isDirectory();
    } catch {
      if (dir === dirname(dir)) return undefined;
      continue;
    }
    if (!isFolder) return 'file';
    return KERNEL_FILE_SYSTEMS.has(statfsSync(dir).type) ? 'kernel' : undefined;
  }
}

const FOLDER_OBSTACLES = {
  file: 'must be a folder, or where one can be made: it is a file, or lies below one',
  kernel:
    "must be a folder on a disk, not in the kernel's /proc or /sys, where no folder or file " +
    'can be made',
} as const;

/**
 * A path setting (a folder the service makes, a key file it reads) as it is written: no space
 * around it, no control character. " /data" (a space after `=` in a container's environment) is
 * a relative path, which put the database, keys and media in a folder named " " under the working
 * directory instead of on the volume at /data; such a slip is refused, naming the variable.
 */
function PlainPath(): PropertyDecorator {
  return Plain('plainPath', 'must be a path without spaces around it or control characters');
}

/**
 * A value compared as it is written (JWT_ISSUER, JWT_AUDIENCE: with each token's `iss` and `aud`):
 * no space around it, no control character. "pis " (a space after a value in an env file) on one
 * instance refused, as 401s, every token another instance signed.
 */
function PlainText(): PropertyDecorator {
  return Plain('plainText', 'must be text without spaces around it or control characters');
}

function Plain(name: string, message: string): PropertyDecorator {
  return ValidateBy({
    name,
    validator: {
      validate: (value: unknown) =>
        typeof value !== 'string' ||
        // eslint-disable-next-line no-control-regex
        (value === value.trim() && !/[\u0000-\u001f\u007f-\u009f]/.test(value)),
      defaultMessage: () => message,
    },
  });
}

/** A folder the service makes and writes (DATA_DIR, STORAGE_LOCAL_DIR): see folderObstacle. */
function MakeableFolder(
  used: (env: EnvironmentVariables) => boolean = () => true,
): PropertyDecorator {
  const obstacle = (value: unknown, env: EnvironmentVariables) =>
    typeof value === 'string' && used(env) ? folderObstacle(value) : undefined;
  return ValidateBy({
    name: 'makeableFolder',
    validator: {
      validate: (value: unknown, args) =>
        obstacle(value, args?.object as EnvironmentVariables) === undefined,
      defaultMessage: (args) =>
        FOLDER_OBSTACLES[obstacle(args?.value, args?.object as EnvironmentVariables) ?? 'file'],
    },
  });
}

const RENDITIONS_RULE =
  'must be a comma-separated list of name:WIDTHxHEIGHT:cover|attention|inside, each name once ' +
  'and none "original", sizes from 1 to 9999';

/** STORAGE_LOCAL_DIR, served at /media, must keep clear of DATA_DIR's private entries. */
function ClearOfDataDir(): PropertyDecorator {
  const conflict = (value: unknown, env: EnvironmentVariables): string | undefined =>
    env.STORAGE_DRIVER === StorageDriver.Local && typeof value === 'string'
      ? storageDirConflict(value, env.DATA_DIR)
      : undefined;
  return ValidateBy({
    name: 'clearOfDataDir',
    validator: {
      validate: (value: unknown, args) =>
        conflict(value, args?.object as EnvironmentVariables) === undefined,
      defaultMessage: (args) =>
        `must not be DATA_DIR, nor contain or lie inside DATA_DIR's private parts ` +
        `(pglite/, jwt-secret, url-signing-key, tmp/): files under it are served at /media, and this one overlaps ` +
        `${conflict(args?.value, args?.object as EnvironmentVariables) ?? 'DATA_DIR'}. Leave it ` +
        `unset (<DATA_DIR>/media) or choose a folder of its own`,
    },
  });
}

/** DELIVERY_WIDTHS: 1 to 64 whole numbers from 16 to 8192, comma-separated, strictly ascending. */
export function parseWidthLadder(value: string): number[] | undefined {
  if (!/^\d{2,4}(,\d{2,4}){0,63}$/.test(value)) return undefined;
  const widths = value.split(',').map(Number);
  const ascending = widths.every((w, i) => w >= 16 && w <= 8192 && (i === 0 || w > widths[i - 1]));
  return ascending ? widths : undefined;
}

function IsWidthLadder(): PropertyDecorator {
  return ValidateBy({
    name: 'isWidthLadder',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && !!parseWidthLadder(value),
      defaultMessage: () =>
        'must be 1 to 64 widths from 16 to 8192, comma-separated, in ascending order',
    },
  });
}

export enum JwtAlgorithm {
  HS256 = 'HS256',
  RS256 = 'RS256',
}

/** The range of each of a cron expression's five fields: minute, hour, day of month, month, weekday. */
const CRON_FIELDS: [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];
const CRON_PART = /^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:\/(\d{1,2}))?$/;
const CRON_RULE =
  'must be off or a cron expression of five numeric fields (minute hour day-of-month month ' +
  'weekday; *, lists, ranges and steps), in UTC, with a day of month that one of its months has, ' +
  'e.g. */10 * * * *';

/** `*`, `5`, `1-5`, `*\/10` or `0-30/5` within the field's range. */
function isCronPart(part: string, [min, max]: [number, number]): boolean {
  const match = CRON_PART.exec(part);
  if (!match) return false;
  const [, , from, to, step] = match;
  const inRange = (n?: string) => n === undefined || (Number(n) >= min && Number(n) <= max);
  return (
    inRange(from) &&
    inRange(to) &&
    (to === undefined || Number(from) <= Number(to)) &&
    (step === undefined || Number(step) >= 1)
  );
}

/** `off`, or a five-field cron expression with numbers only (what a schedule setting takes). */
export function isCronSetting(value: unknown): boolean {
  if (value === 'off') return true;
  if (typeof value !== 'string') return false;
  const fields = value.split(' ');
  return (
    fields.length === CRON_FIELDS.length &&
    fields.every((field, i) =>
      field.split(',').every((part) => isCronPart(part, CRON_FIELDS[i])),
    ) &&
    scheduleCanRun(value)
  );
}

/**
 * Whether pg-boss's scheduler takes the expression: it parses it with cron-parser, which refuses
 * a day of month none of the months has (`0 3 30 2 *`). Refused here, such a setting names its
 * variable at start-up instead of failing it later with cron-parser's bare message.
 */
function scheduleCanRun(expression: string): boolean {
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC', strict: false });
    return true;
  } catch {
    return false;
  }
}

function CronSetting(): PropertyDecorator {
  return ValidateBy({
    name: 'cronSetting',
    validator: { validate: isCronSetting, defaultMessage: () => CRON_RULE },
  });
}

/** A schedule setting: trimmed, its fields one space apart; blank for the default. */
const toCron = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.trim().split(/\s+/).join(' ') || undefined : value;

const REQUEST_TIMEOUT_RULE =
  'must be an integer number of milliseconds between 1000 and 3600000, and at least ' +
  'HTTP_HEADERS_TIMEOUT_MS';

const IN_FLIGHT_RULE =
  'must be an integer number of seconds between 1 and 86400, longer than ' +
  'HTTP_REQUEST_TIMEOUT_MS and at most IDEMPOTENCY_KEY_TTL_HOURS (a request still arriving or ' +
  'working would have its Idempotency-Key taken over by a retry)';

/** The propagator names the OpenTelemetry SDK takes in OTEL_PROPAGATORS, comma-separated. */
const PROPAGATOR = '\\s*(?:tracecontext|baggage|b3|b3multi|jaeger|none)\\s*';
const PROPAGATOR_LIST = new RegExp(`^${PROPAGATOR}(?:,${PROPAGATOR})*$`);

/** OTEL_TRACING: whether spans are made and exported (see src/tracing/). */
export enum OtelTracing {
  On = 'on',
  Off = 'off',
}

const METRICS_TOKEN_RULE =
  'must be 32 to 512 printable characters without spaces (openssl rand -hex 32)';

const JWT_SECRET_RULE =
  'must be at least 32 characters (openssl rand -hex 32); required when NODE_ENV=production';

/** A setting of one JWT_ALGORITHM only; `other` is the one the other algorithm takes instead. */
const OnlyWith = (algorithm: JwtAlgorithm, other: string) =>
  ValidateBy({
    name: `onlyWith${algorithm}`,
    validator: {
      validate: (_: unknown, args) =>
        (args?.object as EnvironmentVariables).JWT_ALGORITHM === algorithm,
      defaultMessage: () => `applies to JWT_ALGORITHM=${algorithm} only (otherwise: ${other})`,
    },
  });

const DELIVERY_SIGNING_KEYS_RULE =
  'must be 1 to 8 comma-separated keys of at least 32 characters each (no spaces); required in ' +
  'production when JWT_SECRET is not set';

const blankToUndefined = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

/** Environment strings "true"/"false"/"1"/"0" to booleans; anything else is left for @IsBoolean to reject. */
const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (v === '') return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return value;
};

/** Integers only when the whole string is one; "12abc" must fail rather than become 12. */
const toInteger = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim();
  if (v === '') return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : value;
};

/**
 * Every setting the service reads, with its default. Validated once at start-up by
 * {@link validateEnv}; each module reads its own typed slice of it (config-slice.ts).
 * Each property is documented in `.env.example` and in the README's configuration table.
 */
export class EnvironmentVariables {
  @Transform(blankToUndefined)
  @IsEnum(NodeEnv, { message: `must be one of: ${Object.values(NodeEnv).join(', ')}` })
  NODE_ENV: NodeEnv = NodeEnv.Development;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 1 and 65535' })
  @Min(1, { message: 'must be an integer between 1 and 65535' })
  @Max(65535, { message: 'must be an integer between 1 and 65535' })
  PORT = 3000;

  @Transform(blankToUndefined)
  @IsString()
  @ValidateBy({
    name: 'isListenHost',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && isListenHost(value),
      defaultMessage: () =>
        'must be an IP address or a host name to listen on (0.0.0.0, ::, localhost), ' +
        'without a scheme or port',
    },
  })
  HOST = '0.0.0.0';

  @Transform(blankToUndefined)
  @IsEnum(LogLevel, { message: `must be one of: ${Object.values(LogLevel).join(', ')}` })
  LOG_LEVEL: LogLevel = LogLevel.Info;

  @Transform(blankToUndefined)
  @IsEnum(LogFormat, { message: `must be one of: ${Object.values(LogFormat).join(', ')}` })
  LOG_FORMAT: LogFormat = LogFormat.Auto;

  @Transform(blankToUndefined)
  @PlainPath()
  @IsString()
  @MakeableFolder()
  DATA_DIR = './data';

  @Transform(blankToUndefined)
  @IsOptional()
  @ServiceUrl(
    ['postgres', 'postgresql'],
    'must be a PostgreSQL connection URL (postgres://user:password@host:5432/database; a port ' +
      'from 1 to 65535, and %-escapes in the user name and password that decode; a URL naming ' +
      'no host, postgres:///database, needs ?host= or PGHOST)',
    undefined,
    (env) => env.PGHOST !== undefined,
  )
  DATABASE_URL?: string = undefined;

  /**
   * Read by node-postgres itself: the server (a host, or a Unix socket's directory) of a
   * DATABASE_URL naming none, `postgres:///database`, as libpq-based tools take it. Checked here
   * only so that such a URL is not refused at start-up.
   */
  @Transform(blankToUndefined)
  @IsOptional()
  @IsString()
  PGHOST?: string = undefined;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 1 and 100' })
  @Min(1, { message: 'must be an integer between 1 and 100' })
  @Max(100, { message: 'must be an integer between 1 and 100' })
  DATABASE_POOL_SIZE = 10;

  /**
   * A statement on the server (a lock wait included) is cancelled after this long, and its request
   * answers 503 database_unavailable instead of holding a pooled connection for as long as the
   * lock or a silenced network lasts. 0: none of the service's. Start-up migrations are never cut.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 0 and 3600000' })
  @Min(0, { message: 'must be an integer number of milliseconds between 0 and 3600000' })
  @Max(3_600_000, { message: 'must be an integer number of milliseconds between 0 and 3600000' })
  DATABASE_STATEMENT_TIMEOUT_MS = 30_000;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  DATABASE_SSL = false;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  DATABASE_PREPARED_STATEMENTS = true;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  MIGRATIONS_RUN = true;

  /** Comma-separated origins allowed by CORS; empty disables CORS, `*` allows any origin. */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @ValidateBy({
    name: 'isCorsOrigins',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'string' && (value === '*' || isOriginList(value)),
      defaultMessage: () => `must be empty, * or ${ORIGIN_LIST_RULE}`,
    },
  })
  CORS_ORIGINS = '';

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of bytes between 1024 and 104857600' })
  @Min(1024, { message: 'must be an integer number of bytes between 1024 and 104857600' })
  @Max(100 * 1024 * 1024, {
    message: 'must be an integer number of bytes between 1024 and 104857600',
  })
  JSON_BODY_LIMIT_BYTES = 1024 * 1024;

  /**
   * Whom to believe about the client's address (`X-Forwarded-For`) and protocol: `false`, nobody;
   * `true`, every hop (the leftmost address: the proxy must set the header, never append to it);
   * or the proxies' addresses and ranges, the client's address then being the last one before
   * them (right for a proxy that appends: nginx's `$proxy_add_x_forwarded_for`, AWS ALB).
   * Never a number: `1` is Express's and Fastify's count of hops to trust (the last address of
   * `X-Forwarded-For`), and read as `true` it trusted every hop, so behind a proxy that appends,
   * the client chose its own address (and its own login limit).
   */
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? value : toBoolean({ value }),
  )
  @ValidateBy({
    name: 'isTrustProxy',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'boolean' || (typeof value === 'string' && isTrustedProxyList(value)),
      defaultMessage: () =>
        'must be true, false, or the addresses or CIDR ranges of the proxies, comma-separated ' +
        '(10.0.0.0/8,fd00::/8; loopback, linklocal and uniquelocal name their ranges), not a ' +
        'number of hops',
    },
  })
  TRUST_PROXY: boolean | string = false;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 1000 and 600000' })
  @Min(1000, { message: 'must be an integer number of milliseconds between 1000 and 600000' })
  @Max(600_000, { message: 'must be an integer number of milliseconds between 1000 and 600000' })
  SHUTDOWN_TIMEOUT_MS = 10_000;

  // --- Roles and background jobs (see src/jobs/) ---

  /** `all` serves HTTP and runs jobs; `api` serves HTTP and only enqueues; `worker` runs jobs. */
  @Transform(blankToUndefined)
  @IsEnum(ServiceRole, { message: `must be one of: ${Object.values(ServiceRole).join(', ')}` })
  @ValidateBy({
    name: 'roleHasServer',
    validator: {
      // The embedded database is one process's: an `api` on it queued jobs no process could ever
      // run (files never deleted, imports never done), and a worker had no API to queue any. Tests
      // use the roles on it, one process at a time (NODE_ENV=test).
      validate: (value: unknown, args) => {
        const env = args?.object as EnvironmentVariables;
        return (
          value === ServiceRole.All ||
          env.DATABASE_URL !== undefined ||
          env.NODE_ENV === NodeEnv.Test
        );
      },
      defaultMessage: () =>
        'must be all when DATABASE_URL is unset: the embedded database belongs to one process, ' +
        'so an api process would queue jobs no worker can run; roles need a PostgreSQL server',
    },
  })
  SERVICE_ROLE: ServiceRole = ServiceRole.All;

  /** Jobs of one queue this process runs at once (image work is bounded separately). */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 1 and 64' })
  @Min(1, { message: 'must be an integer between 1 and 64' })
  @Max(64, { message: 'must be an integer between 1 and 64' })
  JOB_CONCURRENCY = 4;

  /** How often an idle worker asks the database for jobs of each queue. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 500 and 60000' })
  @Min(500, { message: 'must be an integer number of milliseconds between 500 and 60000' })
  @Max(60_000, { message: 'must be an integer number of milliseconds between 500 and 60000' })
  JOB_POLL_INTERVAL_MS = 2000;

  /**
   * How long a worker running a job of a queue with a heartbeat (bulk imports, rendition
   * rebuilds, file deletions) may go unheard before its job is taken for abandoned (its process
   * died) and retried. pg-boss's maintenance pass (expiry, heartbeats, queue statistics) runs this
   * often too, every 60 s at most. At most 10 minutes: under the queues' expiries.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds between 10 and 600' })
  @Min(10, { message: 'must be an integer number of seconds between 10 and 600' })
  @Max(600, { message: 'must be an integer number of seconds between 10 and 600' })
  JOB_HEARTBEAT_SECONDS = 30;

  // --- Slow clients (see common/http/request-timeouts.ts) ---

  /** The request line and headers must have arrived within this. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 1000 and 300000' })
  @Min(1000, { message: 'must be an integer number of milliseconds between 1000 and 300000' })
  @Max(300_000, { message: 'must be an integer number of milliseconds between 1000 and 300000' })
  HTTP_HEADERS_TIMEOUT_MS = 20_000;

  /**
   * A whole request, body included, must have arrived within this: long enough for the largest
   * upload over a slow link (15 MiB in 15 minutes is 140 kbit/s).
   */
  @Transform(toInteger)
  @IsInt({ message: REQUEST_TIMEOUT_RULE })
  @Min(1000, { message: REQUEST_TIMEOUT_RULE })
  @Max(3_600_000, { message: REQUEST_TIMEOUT_RULE })
  @ValidateBy({
    name: 'atLeastHeadersTimeout',
    validator: {
      validate: (value: unknown, args) =>
        typeof value === 'number' &&
        value >= (args?.object as EnvironmentVariables).HTTP_HEADERS_TIMEOUT_MS,
      defaultMessage: () => REQUEST_TIMEOUT_RULE,
    },
  })
  HTTP_REQUEST_TIMEOUT_MS = 900_000;

  /**
   * From HTTP_HEADERS_TIMEOUT_MS after its headers, a body must have arrived at this average
   * rate or faster, else it is cut: a trickle holds no connection for long. 0: no such rule.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of bytes per second between 0 and 104857600' })
  @Min(0, { message: 'must be an integer number of bytes per second between 0 and 104857600' })
  @Max(100 * 1024 * 1024, {
    message: 'must be an integer number of bytes per second between 0 and 104857600',
  })
  HTTP_BODY_MIN_BYTES_PER_SECOND = 4096;

  /** An idle keep-alive connection is closed after this. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 1000 and 600000' })
  @Min(1000, { message: 'must be an integer number of milliseconds between 1000 and 600000' })
  @Max(600_000, { message: 'must be an integer number of milliseconds between 1000 and 600000' })
  HTTP_KEEP_ALIVE_TIMEOUT_MS = 72_000;

  /**
   * A response the client takes no bytes of for this long (its connection's buffers full) is
   * cut, its connection closed: a reader that stalls holds no connection, file or storage
   * connection for ever. Slow readers that keep reading are never cut.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 1000 and 3600000' })
  @Min(1000, { message: 'must be an integer number of milliseconds between 1000 and 3600000' })
  @Max(3_600_000, { message: 'must be an integer number of milliseconds between 1000 and 3600000' })
  HTTP_SEND_TIMEOUT_MS = 60_000;

  // --- Authentication ---------------------------------------------------------------------------

  @Transform(blankToUndefined)
  @IsEnum(JwtAlgorithm, { message: 'must be HS256 or RS256' })
  JWT_ALGORITHM: JwtAlgorithm = JwtAlgorithm.HS256;

  /**
   * HS256 signing secret. Required in production; in development a random one is generated once
   * and kept in DATA_DIR, so restarts keep sessions.
   */
  @Transform(blankToUndefined)
  @ValidateIf(
    (env: EnvironmentVariables) =>
      env.JWT_SECRET !== undefined ||
      (env.NODE_ENV === NodeEnv.Production && env.JWT_ALGORITHM === JwtAlgorithm.HS256),
  )
  @IsString({ message: JWT_SECRET_RULE })
  @MinLength(32, { message: JWT_SECRET_RULE })
  JWT_SECRET?: string = undefined;

  /** RS256: paths of the PEM private key (signs) and public key (verifies). */
  @Transform(blankToUndefined)
  @PlainPath()
  @ValidateIf((env: EnvironmentVariables) => env.JWT_ALGORITHM === JwtAlgorithm.RS256)
  @IsString({ message: 'is required when JWT_ALGORITHM=RS256 (path of a PEM private key)' })
  JWT_PRIVATE_KEY_FILE?: string = undefined;

  @Transform(blankToUndefined)
  @PlainPath()
  @ValidateIf((env: EnvironmentVariables) => env.JWT_ALGORITHM === JwtAlgorithm.RS256)
  @IsString({ message: 'is required when JWT_ALGORITHM=RS256 (path of a PEM public key)' })
  JWT_PUBLIC_KEY_FILE?: string = undefined;

  /**
   * Rotation: the HS256 secret (or RS256 public key file) tokens were signed with before the
   * current one. Still accepted, never used to sign, so that changing JWT_SECRET (or the key pair)
   * logs nobody out: remove it once JWT_TTL_SECONDS have passed.
   */
  @Transform(blankToUndefined)
  @ValidateIf((env: EnvironmentVariables) => env.JWT_PREVIOUS_SECRET !== undefined)
  @OnlyWith(JwtAlgorithm.HS256, 'JWT_PREVIOUS_PUBLIC_KEY_FILE')
  @IsString({ message: JWT_SECRET_RULE })
  @MinLength(32, { message: JWT_SECRET_RULE })
  JWT_PREVIOUS_SECRET?: string = undefined;

  @Transform(blankToUndefined)
  @PlainPath()
  @ValidateIf((env: EnvironmentVariables) => env.JWT_PREVIOUS_PUBLIC_KEY_FILE !== undefined)
  @OnlyWith(JwtAlgorithm.RS256, 'JWT_PREVIOUS_SECRET')
  @IsString({ message: 'must be the path of a PEM public key' })
  JWT_PREVIOUS_PUBLIC_KEY_FILE?: string = undefined;

  @Transform(blankToUndefined)
  @IsString()
  @MinLength(1)
  @PlainText()
  JWT_ISSUER = 'product-image-service';

  @Transform(blankToUndefined)
  @IsString()
  @MinLength(1)
  @PlainText()
  JWT_AUDIENCE = 'product-image-service';

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds between 60 and 604800' })
  @Min(60, { message: 'must be an integer number of seconds between 60 and 604800' })
  @Max(604_800, { message: 'must be an integer number of seconds between 60 and 604800' })
  JWT_TTL_SECONDS = 3600;

  /**
   * How far the clocks of the instances (the one that signed a token, the one that checks it) may
   * differ: a token is still accepted this many seconds past its `exp`, or before its `nbf`.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds between 0 and 300' })
  @Min(0, { message: 'must be an integer number of seconds between 0 and 300' })
  @Max(300, { message: 'must be an integer number of seconds between 0 and 300' })
  JWT_CLOCK_TOLERANCE_SECONDS = 30;

  /**
   * Accept `?x-api-key=` (as the back-office uploader does). Off: keys in URLs leak into logs,
   * proxies and history.
   */
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  API_KEY_QUERY_PARAM = false;

  /**
   * The compatible APIs to serve beside the main API, by name (see compat/compat.module.ts), or
   * `all` or `none`. The Ocha API's route is the main API's own and always served.
   */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @Matches(COMPAT_APIS_PATTERN, { message: COMPAT_APIS_RULE })
  COMPAT_APIS = 'all';

  /** Login attempts allowed per client address, and per account, in each window. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 1 and 10000' })
  @Min(1, { message: 'must be an integer between 1 and 10000' })
  @Max(10_000, { message: 'must be an integer between 1 and 10000' })
  LOGIN_RATE_LIMIT = 10;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds between 1 and 86400' })
  @Min(1, { message: 'must be an integer number of seconds between 1 and 86400' })
  @Max(86_400, { message: 'must be an integer number of seconds between 1 and 86400' })
  LOGIN_RATE_WINDOW_SECONDS = 60;

  // --- State shared between instances (see shared-state/) ---

  /**
   * Where the instances of the service count login attempts together: unset, in the service's
   * own PostgreSQL; a Redis URL, in that Redis (`rediss://` for TLS). Never echoed: it may hold a
   * password.
   */
  @Transform(blankToUndefined)
  @IsOptional()
  @ServiceUrl(
    ['redis', 'rediss'],
    'must be a Redis URL (redis://[:password@]host:6379[/db], or rediss:// for TLS; a port from ' +
      '1 to 65535, %-escapes in the password that decode, and a database by its number)',
    redisDatabasePath,
  )
  REDIS_URL?: string = undefined;

  /** Starts every Redis key the service writes, so that several deployments can share a Redis. */
  @Transform(blankToUndefined)
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, {
    message: 'must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_", ":" and "-" (e.g. pis:)',
  })
  REDIS_KEY_PREFIX = 'pis:';

  // --- Storage and images ---------------------------------------------------------------------

  @Transform(blankToUndefined)
  @IsEnum(StorageDriver, { message: `must be one of: ${Object.values(StorageDriver).join(', ')}` })
  STORAGE_DRIVER: StorageDriver = StorageDriver.Local;

  /** Local storage root; default `<DATA_DIR>/media`. Served at /media: never DATA_DIR itself. */
  @Transform(blankToUndefined)
  @PlainPath()
  @IsOptional()
  @IsString()
  @ClearOfDataDir()
  @MakeableFolder((env) => env.STORAGE_DRIVER === StorageDriver.Local)
  STORAGE_LOCAL_DIR?: string = undefined;

  /** Absolute base of the URLs the service puts in responses; default http://localhost:<PORT>. */
  @Transform(blankToUndefined)
  @IsOptional()
  @Matches(PUBLIC_URL, { message: PUBLIC_URL_RULE })
  PUBLIC_BASE_URL?: string = undefined;

  /** Each storage operation, on every driver (an S3 request, a Cloudinary upload, a local write), fails after this long. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 1000 and 600000' })
  @Min(1000, { message: 'must be an integer number of milliseconds between 1000 and 600000' })
  @Max(600_000, { message: 'must be an integer number of milliseconds between 1000 and 600000' })
  STORAGE_TIMEOUT_MS = 30_000;

  // --- S3 (STORAGE_DRIVER=s3) ---

  @Transform(blankToUndefined)
  @ValidateIf(isS3)
  @Matches(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    message: 'is required when STORAGE_DRIVER=s3 (a bucket name: 3-63 of a-z, 0-9, ".", "-")',
  })
  S3_BUCKET?: string = undefined;

  @Transform(blankToUndefined)
  @Matches(/^[a-z0-9-]{1,32}$/, { message: 'must be a region name such as us-east-1' })
  S3_REGION = 'us-east-1';

  /** For MinIO and other S3-compatible stores; AWS when unset. */
  @Transform(blankToUndefined)
  @IsOptional()
  @Matches(HTTP_URL, { message: HTTP_URL_RULE })
  S3_ENDPOINT?: string = undefined;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  S3_FORCE_PATH_STYLE = false;

  /** Both or neither; without them the AWS SDK's default credential chain is used. */
  @Transform(blankToUndefined)
  @ValidateIf((env: EnvironmentVariables) => isS3(env) && env.S3_SECRET_ACCESS_KEY !== undefined)
  @IsString({ message: 'is required when S3_SECRET_ACCESS_KEY is set' })
  S3_ACCESS_KEY_ID?: string = undefined;

  @Transform(blankToUndefined)
  @ValidateIf((env: EnvironmentVariables) => isS3(env) && env.S3_ACCESS_KEY_ID !== undefined)
  @IsString({ message: 'is required when S3_ACCESS_KEY_ID is set' })
  S3_SECRET_ACCESS_KEY?: string = undefined;

  /** Prepended to every object key, e.g. `catalogue/`. */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @Matches(FOLDER, { message: FOLDER_RULE })
  S3_KEY_PREFIX = '';

  @Transform(blankToUndefined)
  @IsEnum(S3ChecksumMode, { message: 'must be WHEN_SUPPORTED or WHEN_REQUIRED' })
  S3_REQUEST_CHECKSUM_CALCULATION: S3ChecksumMode = S3ChecksumMode.WhenSupported;

  @Transform(blankToUndefined)
  @IsEnum(S3ChecksumMode, { message: 'must be WHEN_SUPPORTED or WHEN_REQUIRED' })
  S3_RESPONSE_CHECKSUM_VALIDATION: S3ChecksumMode = S3ChecksumMode.WhenSupported;

  /** Public base of object URLs (a CDN or the bucket's URL); unset: presigned GET URLs. */
  @Transform(blankToUndefined)
  @IsOptional()
  @Matches(PUBLIC_URL, { message: PUBLIC_URL_RULE })
  S3_PUBLIC_BASE_URL?: string = undefined;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds between 60 and 604800' })
  @Min(60, { message: 'must be an integer number of seconds between 60 and 604800' })
  @Max(604_800, { message: 'must be an integer number of seconds between 60 and 604800' })
  S3_PRESIGN_TTL_SECONDS = 3600;

  // --- Cloudinary (STORAGE_DRIVER=cloudinary) ---

  /** cloudinary://API_KEY:API_SECRET@CLOUD_NAME (the dashboard's "API environment variable"). */
  @Transform(blankToUndefined)
  @IsOptional()
  @Matches(/^cloudinary:\/\/[^:@/\s]+:[^@/\s]+@[a-zA-Z0-9_-]+(\?\S*)?$/, {
    message: 'must look like cloudinary://API_KEY:API_SECRET@CLOUD_NAME',
  })
  CLOUDINARY_URL?: string = undefined;

  @Transform(blankToUndefined)
  @ValidateIf(needsCloudinaryParts)
  @Matches(/^[a-zA-Z0-9_-]+$/, {
    message: 'is required when STORAGE_DRIVER=cloudinary and CLOUDINARY_URL is not set',
  })
  CLOUDINARY_CLOUD_NAME?: string = undefined;

  @Transform(blankToUndefined)
  @ValidateIf(needsCloudinaryParts)
  @IsString({ message: 'is required when STORAGE_DRIVER=cloudinary and CLOUDINARY_URL is not set' })
  CLOUDINARY_API_KEY?: string = undefined;

  @Transform(blankToUndefined)
  @ValidateIf(needsCloudinaryParts)
  @IsString({ message: 'is required when STORAGE_DRIVER=cloudinary and CLOUDINARY_URL is not set' })
  CLOUDINARY_API_SECRET?: string = undefined;

  /** The folder every upload goes to; product keys live directly in it. */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @Matches(FOLDER, { message: FOLDER_RULE })
  CLOUDINARY_FOLDER = 'products/';

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of bytes between 1 and 1073741824' })
  @Min(1, { message: 'must be an integer number of bytes between 1 and 1073741824' })
  @Max(1024 * 1024 * 1024, {
    message: 'must be an integer number of bytes between 1 and 1073741824',
  })
  MAX_UPLOAD_BYTES = 15 * 1024 * 1024;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 1 and 1000000000' })
  @Min(1, { message: 'must be an integer between 1 and 1000000000' })
  @Max(1_000_000_000, { message: 'must be an integer between 1 and 1000000000' })
  MAX_IMAGE_PIXELS = 40_000_000;

  /**
   * Rendition presets: `name:WxH:fit`, comma-separated; fit is cover (centre crop), attention
   * (crop to the most interesting part, the Ocha API's gravity auto) or inside (fit, never enlarge).
   */
  @Transform(blankToUndefined)
  @IsString()
  @Matches(
    /^[a-z][a-z0-9_-]{0,31}:[1-9]\d{0,3}x[1-9]\d{0,3}:(cover|attention|inside)(,[a-z][a-z0-9_-]{0,31}:[1-9]\d{0,3}x[1-9]\d{0,3}:(cover|attention|inside))*$/,
    { message: RENDITIONS_RULE },
  )
  @ValidateBy({
    name: 'eachRenditionNamedOnce',
    validator: {
      validate: (value: unknown) => {
        const names = String(value)
          .split(',')
          .map((entry) => entry.split(':')[0]);
        // `original` is the stored original's name beside them: a rendition so named (a WebP
        // one, of a WebP upload) was written over it.
        return new Set(names).size === names.length && !names.includes('original');
      },
      defaultMessage: () => RENDITIONS_RULE,
    },
  })
  IMAGE_RENDITIONS = 'thumb:150x150:cover,card:500x500:attention,large:1200x1200:inside';

  /** Images processed at once (default: the machine's cores); more wait in a queue. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 1 and 64' })
  @Min(1, { message: 'must be an integer between 1 and 64' })
  @Max(64, { message: 'must be an integer between 1 and 64' })
  IMAGE_PROCESSING_CONCURRENCY = Math.min(64, availableParallelism());

  /**
   * Threads of libuv's pool, which image work shares with every file read and write. Read by
   * main.ts before anything else (common/runtime/size-thread-pool.ts), which sets it, when blank,
   * to IMAGE_PROCESSING_CONCURRENCY + 4; checked here like every setting.
   */
  @Transform(toInteger)
  @IsOptional()
  @IsInt({ message: 'must be an integer between 1 and 1024' })
  @Min(1, { message: 'must be an integer between 1 and 1024' })
  @Max(1024, { message: 'must be an integer between 1 and 1024' })
  UV_THREADPOOL_SIZE?: number = undefined;

  /**
   * Images allowed to wait, a ceiling on their count: for a processing slot, and (transforms) for
   * their turn to read their original, together; beyond, 503 with Retry-After.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 0 and 10000' })
  @Min(0, { message: 'must be an integer between 0 and 10000' })
  @Max(10_000, { message: 'must be an integer between 0 and 10000' })
  IMAGE_PROCESSING_QUEUE_LIMIT = 1000;

  /**
   * Originals of transform URLs being read from storage into the spool, or read and waiting for a
   * processing slot, at once (default: twice IMAGE_PROCESSING_CONCURRENCY, at most 16: on S3 a
   * read waiting for its answer holds one of its 50 connection turns). A read holds no processing
   * slot; this bounds the storage connections and spooled copies they hold.
   * IMAGE_PROCESSING_QUEUE_LIMIT bounds those waiting for their turn (holding nothing) together
   * with the work waiting for a processing slot.
   */
  @Transform(toInteger)
  @IsOptional()
  @IsInt({ message: 'must be an integer between 1 and 1000' })
  @Min(1, { message: 'must be an integer between 1 and 1000' })
  @Max(1000, { message: 'must be an integer between 1 and 1000' })
  TRANSFORM_READ_CONCURRENCY?: number = undefined;

  /**
   * Bytes of uploads (spooled on disk) allowed to wait for processing; beyond, uploads get 503
   * with Retry-After. A waiting upload costs disk, not memory: memory is per image processed.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of bytes between 0 and 68719476736' })
  @Min(0, { message: 'must be an integer number of bytes between 0 and 68719476736' })
  @Max(64 * 1024 ** 3, {
    message: 'must be an integer number of bytes between 0 and 68719476736',
  })
  IMAGE_PROCESSING_QUEUE_BYTES = 256 * 1024 * 1024;

  /**
   * An SVG is rendered in a process of its own, killed past this many milliseconds of rendering
   * (the process's start not counted): 400 image_too_complex. What an SVG costs to render is
   * bounded neither by its bytes nor its pixels.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 1000 and 300000' })
  @Min(1000, { message: 'must be an integer number of milliseconds between 1000 and 300000' })
  @Max(300_000, { message: 'must be an integer number of milliseconds between 1000 and 300000' })
  SVG_RENDER_TIMEOUT_MS = 10_000;

  /**
   * The resident memory an SVG's rendering process may reach before it is killed (1 GiB; the
   * process itself, Node and sharp loaded, takes about 75 MB).
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of bytes between 268435456 and 68719476736' })
  @Min(256 * 1024 ** 2, {
    message: 'must be an integer number of bytes between 268435456 and 68719476736',
  })
  @Max(64 * 1024 ** 3, {
    message: 'must be an integer number of bytes between 268435456 and 68719476736',
  })
  SVG_RENDER_MAX_BYTES = 1024 ** 3;

  // --- Images made on request (transform URLs) ---

  /**
   * Keys of the HMAC that signs transform URLs, comma-separated, each at least 32 characters: the
   * first signs, all are accepted (a rotation lists the new key first, then the old). Unset: a key
   * derived from JWT_SECRET, or in development one generated into DATA_DIR.
   */
  @Transform(blankToUndefined)
  @ValidateIf(
    (env: EnvironmentVariables) =>
      env.DELIVERY_SIGNING_KEYS !== undefined ||
      (env.NODE_ENV === NodeEnv.Production && env.JWT_SECRET === undefined),
  )
  @Matches(/^[^\s,]{32,}(,[^\s,]{32,}){0,7}$/, { message: DELIVERY_SIGNING_KEYS_RULE })
  DELIVERY_SIGNING_KEYS?: string = undefined;

  /**
   * The widths results are made at, ascending: a requested width is rounded up to the next one
   * (never beyond the original), so an image has a bounded number of results.
   */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsWidthLadder()
  DELIVERY_WIDTHS =
    '64,80,96,128,160,200,256,320,400,512,640,800,1024,1280,1600,2048,2560,3200,3840';

  // --- Importing images from URLs, and stand-alone uploads ---

  /** The whole fetch of an image URL (DNS, connecting, redirects, body) must end within this. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 1000 and 120000' })
  @Min(1000, { message: 'must be an integer number of milliseconds between 1000 and 120000' })
  @Max(120_000, { message: 'must be an integer number of milliseconds between 1000 and 120000' })
  IMPORT_TIMEOUT_MS = 15_000;

  /** Ports an image URL may use. */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @Matches(PORT_LIST, { message: PORT_LIST_RULE })
  IMPORT_ALLOWED_PORTS = '80,443';

  /**
   * Test-only: let image URLs reach private and loopback addresses. Refused in production, where
   * it would open the service to server-side request forgery.
   */
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  @OffInProduction(false, 'must be false when NODE_ENV=production (a test-only allowance)')
  IMPORT_ALLOW_PRIVATE_NETWORKS = false;

  /** Test-only: origins (http://127.0.0.1:8080) image URLs may reach despite a private address. */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @ValidateBy({
    name: 'isOriginList',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && isOriginList(value),
      defaultMessage: () => `must be empty or ${ORIGIN_LIST_RULE}`,
    },
  })
  @OffInProduction('', 'must be empty when NODE_ENV=production (a test-only allowance)')
  IMPORT_ALLOWED_PRIVATE_ORIGINS = '';

  // --- Bulk imports (see src/imports/) ---

  /**
   * The largest CSV a bulk import takes (a `text/csv` body or the multipart file): 64 MiB holds
   * 100,000 rows of long URLs and titles. It is read as a stream, never held whole.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of bytes between 1024 and 1073741824' })
  @Min(1024, { message: 'must be an integer number of bytes between 1024 and 1073741824' })
  @Max(1024 * 1024 * 1024, {
    message: 'must be an integer number of bytes between 1024 and 1073741824',
  })
  BULK_IMPORT_MAX_BYTES = 64 * 1024 * 1024;

  /** The most rows one bulk import may have. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 1 and 1000000' })
  @Min(1, { message: 'must be an integer between 1 and 1000000' })
  @Max(1_000_000, { message: 'must be an integer between 1 and 1000000' })
  BULK_IMPORT_MAX_ROWS = 100_000;

  /**
   * Days a completed bulk import (and its rows) is kept after its last row was done; then the
   * hourly sweep deletes it. 0 keeps them for ever.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of days between 0 and 3650' })
  @Min(0, { message: 'must be an integer number of days between 0 and 3650' })
  @Max(3650, { message: 'must be an integer number of days between 0 and 3650' })
  BULK_IMPORT_RETENTION_DAYS = 30;

  // --- Idempotent retries (see src/idempotency/) ---

  /**
   * Hours an `Idempotency-Key` is remembered: a retry with it within this replays the first
   * answer; after it, the key is forgotten (swept hourly) and does the work again.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of hours between 1 and 8760' })
  @Min(1, { message: 'must be an integer number of hours between 1 and 8760' })
  @Max(8760, { message: 'must be an integer number of hours between 1 and 8760' })
  IDEMPOTENCY_KEY_TTL_HOURS = 24;

  /**
   * Seconds after which a key still in flight, whose request's work never committed, may be taken
   * over by a retry: its process died (or is this late, and then gives way). Longer than any request
   * takes, from its key's claim to its work's commit (a slow body included: HTTP_REQUEST_TIMEOUT_MS,
   * which it must exceed: else a retry takes over the key of an upload still arriving, legitimately,
   * and that upload is rolled back when it commits).
   */
  @Transform(toInteger)
  @IsInt({ message: IN_FLIGHT_RULE })
  @Min(1, { message: IN_FLIGHT_RULE })
  @Max(86400, { message: IN_FLIGHT_RULE })
  @ValidateBy({
    name: 'longerThanRequestTimeout',
    validator: {
      // The key of a request working past its TTL is forgotten, and a retry would take it over.
      validate: (value: unknown, args) => {
        const env = args?.object as EnvironmentVariables;
        return (
          typeof value === 'number' &&
          value * 1000 > env.HTTP_REQUEST_TIMEOUT_MS &&
          value <= env.IDEMPOTENCY_KEY_TTL_HOURS * 3600
        );
      },
      defaultMessage: () => IN_FLIGHT_RULE,
    },
  })
  IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS = 1800;

  /** When expired stand-alone uploads (`expires_in`) are swept: a UTC cron expression, or off. */
  @Transform(toCron)
  @CronSetting()
  UNATTACHED_IMAGE_SWEEP_CRON = '*/10 * * * *';

  /**
   * When stored files no row names (left by a crash between writing files and committing their
   * row, or by a deletion that kept failing) are swept: a UTC cron expression, or off.
   */
  @Transform(toCron)
  @CronSetting()
  ORPHAN_SWEEP_CRON = '30 3 * * *';

  /** Hours a stored file no row names is kept before the orphan sweep deletes it. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of hours between 1 and 8760' })
  @Min(1, { message: 'must be an integer number of hours between 1 and 8760' })
  @Max(8760, { message: 'must be an integer number of hours between 1 and 8760' })
  ORPHAN_SWEEP_GRACE_HOURS = 24;

  /**
   * Seconds between sweeps of the upload spool for files a crash left behind (each request
   * removes its own); 0: only at start-up.
   */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds between 0 and 86400' })
  @Min(0, { message: 'must be an integer number of seconds between 0 and 86400' })
  @Max(86_400, { message: 'must be an integer number of seconds between 0 and 86400' })
  UPLOAD_SPOOL_SWEEP_SECONDS = 600;

  // --- Metrics and tracing (see src/metrics/ and src/tracing/) ---

  /**
   * The bearer token Prometheus scrapes GET /metrics with. Unset: there is no /metrics route
   * (404), so that no deployment publishes its numbers by forgetting a setting.
   */
  @Transform(blankToUndefined)
  @IsOptional()
  @Matches(/^[\x21-\x7e]{32,512}$/, { message: METRICS_TOKEN_RULE })
  METRICS_TOKEN?: string = undefined;

  /** `on` or `off`; unset, tracing is on exactly when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  @Transform(blankToUndefined)
  @IsOptional()
  @IsEnum(OtelTracing, {
    message: 'must be on or off (unset: on when OTEL_EXPORTER_OTLP_ENDPOINT is set)',
  })
  OTEL_TRACING?: OtelTracing = undefined;

  /** The OTLP/HTTP collector traces go to (`/v1/traces` appended); default http://localhost:4318. */
  @Transform(blankToUndefined)
  @IsOptional()
  @Matches(HTTP_URL, { message: HTTP_URL_RULE })
  OTEL_EXPORTER_OTLP_ENDPOINT?: string = undefined;

  /** The `service.name` of every span. */
  @Transform(blankToUndefined)
  @Matches(/^[A-Za-z0-9._-]{1,128}$/, {
    message: 'must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_" and "-"',
  })
  OTEL_SERVICE_NAME = 'product-image-service';

  /**
   * The trace-context propagators, read by the OpenTelemetry SDK itself (src/tracing/otel-sdk.ts);
   * checked here so that a misspelt one fails the start rather than silently propagating nothing.
   * Unset: W3C trace context alone (a client's `baggage` is neither taken nor sent on).
   */
  @Transform(blankToUndefined)
  @IsOptional()
  @Matches(PROPAGATOR_LIST, {
    message:
      'must be a comma-separated list of tracecontext, baggage, b3, b3multi, jaeger or none ' +
      '(unset: tracecontext alone)',
  })
  OTEL_PROPAGATORS?: string = undefined;

  /** The first administrator, created on first start with an empty database. */
  @Transform(blankToUndefined)
  @IsOptional()
  @IsEmail({}, { message: 'must be an email address' })
  ADMIN_EMAIL?: string = undefined;

  @Transform(blankToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(12, { message: 'must be from 12 to 1024 characters (a login takes no more)' })
  @MaxLength(1024, { message: 'must be from 12 to 1024 characters (a login takes no more)' })
  ADMIN_PASSWORD?: string = undefined;
}

export type Env = EnvironmentVariables;

export class ConfigValidationError extends Error {
  constructor(readonly problems: { variable: string; expected: string }[]) {
    super(
      'Invalid configuration; the service cannot start:\n' +
        problems.map((p) => `  - ${p.variable}: ${p.expected}`).join('\n') +
        '\nSee .env.example and the README for every setting and its default.',
    );
    this.name = 'ConfigValidationError';
  }
}

function describe(errors: ValidationError[]): { variable: string; expected: string }[] {
  return errors.map((e) => ({
    variable: e.property,
    // Values are never echoed: a bad DATABASE_URL may well contain a password.
    expected: [...new Set(Object.values(e.constraints ?? {}))].join('; '),
  }));
}

/**
 * Validates raw environment variables and returns them typed, with defaults applied.
 * Throws {@link ConfigValidationError} naming every bad variable at once.
 */
export function validateEnv(raw: Record<string, unknown>): Env {
  const known = Object.keys(new EnvironmentVariables());
  const picked: Record<string, unknown> = {};
  for (const key of known) {
    if (raw[key] !== undefined) picked[key] = raw[key];
  }
  const env = plainToInstance(EnvironmentVariables, picked, { exposeDefaultValues: true });
  // A blank value means "use the default": class-transformer left undefined, so put it back.
  const defaults = new EnvironmentVariables();
  for (const key of known as (keyof Env)[]) {
    if (env[key] === undefined && defaults[key] !== undefined) {
      (env as unknown as Record<string, unknown>)[key] = defaults[key];
    }
  }
  const errors = validateSync(env, { skipMissingProperties: false, forbidUnknownValues: true });
  if (errors.length > 0) throw new ConfigValidationError(describe(errors));
  return env;
}
