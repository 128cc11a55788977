import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigValidationError, EnvironmentVariables, validateEnv } from './env.validation';

describe(validateEnv.name, () => {
  it('applies every default when nothing is set', () => {
    const env = validateEnv({});
    expect(env).toBeInstanceOf(EnvironmentVariables);
    expect(env).toMatchObject({
      NODE_ENV: 'development',
      PORT: 3000,
      HOST: '0.0.0.0',
      LOG_LEVEL: 'info',
      DATA_DIR: './data',
      DATABASE_URL: undefined,
      MIGRATIONS_RUN: true,
      CORS_ORIGINS: '',
    });
  });

  it('converts numbers and booleans from their string forms', () => {
    const env = validateEnv({ PORT: '8080', MIGRATIONS_RUN: 'false', TRUST_PROXY: '1' });
    expect(env.PORT).toBe(8080);
    expect(env.MIGRATIONS_RUN).toBe(false);
    expect(env.TRUST_PROXY).toBe(true);
  });

  it('treats a blank value as unset', () => {
    expect(validateEnv({ PORT: '', DATABASE_URL: ' ', LOG_LEVEL: '', NODE_ENV: '' })).toMatchObject(
      {
        PORT: 3000,
        DATABASE_URL: undefined,
        LOG_LEVEL: 'info',
        NODE_ENV: 'development',
      },
    );
  });

  it('names every bad variable and what it expects, in one error', () => {
    let error: unknown;
    try {
      validateEnv({
        PORT: '12abc',
        NODE_ENV: 'staging',
        LOG_LEVEL: 'loud',
        MIGRATIONS_RUN: 'maybe',
        DATABASE_URL: 'mysql://root:hunter2@db/x',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    const { message, problems } = error as ConfigValidationError;
    expect(problems.map((p) => p.variable).sort()).toEqual(
      ['DATABASE_URL', 'LOG_LEVEL', 'MIGRATIONS_RUN', 'NODE_ENV', 'PORT'].sort(),
    );
    expect(message).toContain('PORT: must be an integer between 1 and 65535');
    expect(message).toContain('NODE_ENV: must be one of: development, production, test');
    expect(message).toContain('DATABASE_URL: must be a PostgreSQL connection URL');
    // The offending values are never echoed: they may be secrets.
    expect(message).not.toContain('hunter2');
  });

  it('rejects a port out of range', () => {
    expect(() => validateEnv({ PORT: '70000' })).toThrow(/PORT: must be an integer/);
  });

  it('accepts a list of CORS origins and rejects garbage', () => {
    expect(
      validateEnv({ CORS_ORIGINS: 'https://a.example, http://b.example:8080' }).CORS_ORIGINS,
    ).toBe('https://a.example, http://b.example:8080');
    expect(() => validateEnv({ CORS_ORIGINS: 'not a url' })).toThrow(/CORS_ORIGINS/);
  });

  describe('JWT settings', () => {
    it('require JWT_SECRET in production, naming it', () => {
      expect(() => validateEnv({ NODE_ENV: 'production' })).toThrow(
        /JWT_SECRET: must be at least 32 characters \(openssl rand -hex 32\); required when NODE_ENV=production\n/,
      );
      expect(
        validateEnv({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).JWT_SECRET,
      ).toHaveLength(32);
    });

    it('do not require JWT_SECRET in development', () => {
      expect(validateEnv({}).JWT_SECRET).toBeUndefined();
    });

    it('refuse a short secret', () => {
      expect(() => validateEnv({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET: must be at least 32/);
    });

    it('require both key files for RS256, and no secret', () => {
      expect(() => validateEnv({ JWT_ALGORITHM: 'RS256', NODE_ENV: 'production' })).toThrow(
        /JWT_PRIVATE_KEY_FILE[\s\S]*JWT_PUBLIC_KEY_FILE/,
      );
      const env = validateEnv({
        NODE_ENV: 'production',
        JWT_ALGORITHM: 'RS256',
        JWT_PRIVATE_KEY_FILE: '/k/private.pem',
        JWT_PUBLIC_KEY_FILE: '/k/public.pem',
      });
      expect(env.JWT_ALGORITHM).toBe('RS256');
    });

    it('refuse any other algorithm', () => {
      expect(() => validateEnv({ JWT_ALGORITHM: 'none' })).toThrow(
        /JWT_ALGORITHM: must be HS256 or RS256/,
      );
    });
  });

  it('documents every setting, once, in the README table and in .env.example', () => {
    const settings = Object.keys(new EnvironmentVariables()).sort();
    const root = join(__dirname, '..', '..');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = readFileSync(join(root, '.env.example'), 'utf8');
    const readmeRows = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]);
    const exampleLines = [...example.matchAll(/^([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect([...readmeRows].sort()).toEqual(settings);
    expect([...exampleLines].sort()).toEqual(settings);
  });
});
