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
});
