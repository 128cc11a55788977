import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsEnum,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';

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
 * {@link validateEnv}; the rest of the code reads typed values through ConfigService.
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
  @MinLength(1, { message: 'must be a host name or an address to listen on' })
  HOST = '0.0.0.0';

  @Transform(blankToUndefined)
  @IsEnum(LogLevel, { message: `must be one of: ${Object.values(LogLevel).join(', ')}` })
  LOG_LEVEL: LogLevel = LogLevel.Info;

  @Transform(blankToUndefined)
  @IsString()
  DATA_DIR = './data';

  @Transform(blankToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, {
    message: 'must be a PostgreSQL connection URL (postgres://user:password@host:5432/database)',
  })
  DATABASE_URL?: string = undefined;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer between 1 and 100' })
  @Min(1, { message: 'must be an integer between 1 and 100' })
  @Max(100, { message: 'must be an integer between 1 and 100' })
  DATABASE_POOL_SIZE = 10;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  DATABASE_SSL = false;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  MIGRATIONS_RUN = true;

  /** Comma-separated origins allowed by CORS; empty disables CORS, `*` allows any origin. */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @Matches(/^(\*|(https?:\/\/[^\s,]+)(\s*,\s*https?:\/\/[^\s,]+)*)?$/, {
    message: 'must be empty, * or a comma-separated list of http(s) origins',
  })
  CORS_ORIGINS = '';

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of bytes between 1024 and 104857600' })
  @Min(1024, { message: 'must be an integer number of bytes between 1024 and 104857600' })
  @Max(100 * 1024 * 1024, {
    message: 'must be an integer number of bytes between 1024 and 104857600',
  })
  JSON_BODY_LIMIT_BYTES = 1024 * 1024;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  TRUST_PROXY = false;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds between 0 and 600000' })
  @Min(0, { message: 'must be an integer number of milliseconds between 0 and 600000' })
  @Max(600_000, { message: 'must be an integer number of milliseconds between 0 and 600000' })
  SHUTDOWN_TIMEOUT_MS = 10_000;
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
