import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadJwtKeys } from '../auth/jwt-keys';
import { loadUrlSigner } from '../images/delivery/url-signer';
import { embeddedDatabaseDir } from '../database/data-source.options';
import { uploadTempDir } from '../images/intake/upload-spool';
import { localStorageRoot } from '../storage/storage.config';
import {
  ConfigValidationError,
  DATA_DIR_PRIVATE_ENTRIES,
  EnvironmentVariables,
  storageDirConflict,
  validateEnv,
} from './env.validation';

/** The variables validateEnv refuses in `raw`, none when it takes it. */
function problemsOf(raw: Record<string, string>): string[] {
  try {
    validateEnv(raw);
    return [];
  } catch (error) {
    return (error as ConfigValidationError).problems.map((p) => p.variable);
  }
}

describe(validateEnv.name, () => {
  it('applies every default when nothing is set', () => {
    const env = validateEnv({});
    expect(env).toBeInstanceOf(EnvironmentVariables);
    expect(env).toMatchObject({
      NODE_ENV: 'development',
      PORT: 3000,
      HOST: '0.0.0.0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'auto',
      DATA_DIR: './data',
      DATABASE_URL: undefined,
      MIGRATIONS_RUN: true,
      CORS_ORIGINS: '',
    });
  });

  it('converts numbers and booleans from their string forms', () => {
    const env = validateEnv({ PORT: '8080', MIGRATIONS_RUN: 'false', TRUST_PROXY: 'TRUE' });
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

  it('names DATABASE_URL, REDIS_URL and HOST when the clients could not use them', () => {
    for (const [variable, value] of [
      ['DATABASE_URL', 'postgres://images:secret@db:99999/images'],
      ['DATABASE_URL', 'postgres://images:100%secret@db/images'],
      ['REDIS_URL', 'redis://:secret@cache:70000'],
      ['REDIS_URL', 'redis://:secret@cache:6379/12x'],
      ['REDIS_URL', 'redis://:secret@cache:6379/0/1'],
      // No host: ioredis and pg went to localhost, a Redis or database not the one meant.
      ['REDIS_URL', 'redis://'],
      ['REDIS_URL', 'rediss:///2'],
      ['DATABASE_URL', 'postgres://'],
      ['DATABASE_URL', 'postgres:///images'],
      ['HOST', ' 0.0.0.0'],
      // Accepted before, then failed in listen() once the app had started, naming no setting.
      ['HOST', '0.0.0.0:3000'],
      ['HOST', 'http://localhost'],
      ['HOST', '256.1.1.1'],
      ['HOST', 'bad_host.example'],
    ]) {
      let error: unknown;
      try {
        validateEnv({ [variable]: value });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigValidationError);
      const { problems, message } = error as ConfigValidationError;
      expect(problems.map((p) => p.variable)).toEqual([variable]);
      expect(message).not.toContain('secret');
    }
  });

  it('takes a PostgreSQL URL naming no host when PGHOST names it, as node-postgres does', () => {
    for (const host of ['db.internal', '/var/run/postgresql']) {
      const env = validateEnv({ DATABASE_URL: 'postgres:///images', PGHOST: host });
      expect(env).toMatchObject({ DATABASE_URL: 'postgres:///images', PGHOST: host });
    }
    expect(
      validateEnv({ DATABASE_URL: 'postgresql:///images?host=/run/postgresql' }),
    ).toMatchObject({ DATABASE_URL: 'postgresql:///images?host=/run/postgresql' });
    // Without either, node-postgres went to localhost over TCP (libpq: the default socket).
    expect(() => validateEnv({ DATABASE_URL: 'postgres:///images', PGHOST: ' ' })).toThrow(
      /DATABASE_URL: .*needs \?host= or PGHOST/,
    );
  });

  it('takes an address or a host name to listen on', () => {
    for (const host of ['0.0.0.0', '::', '127.0.0.1', '::1', 'localhost', 'api.internal']) {
      expect(validateEnv({ HOST: host }).HOST).toBe(host);
    }
  });

  it('takes a Redis URL naming a database by its number, or none', () => {
    for (const url of ['redis://cache', 'redis://cache:6379/', 'rediss://:p@cache:6380/12']) {
      expect(validateEnv({ REDIS_URL: url }).REDIS_URL).toBe(url);
    }
  });

  it('takes the api and worker roles only with a PostgreSQL server (or in tests)', () => {
    const server = { DATABASE_URL: 'postgres://images:pw@db.internal:5432/images' };
    for (const role of ['api', 'worker']) {
      for (const NODE_ENV of ['production', 'development']) {
        const env = { NODE_ENV, JWT_SECRET: 'x'.repeat(32), SERVICE_ROLE: role };
        expect(() => validateEnv(env)).toThrow(
          /SERVICE_ROLE: must be all when DATABASE_URL is unset/,
        );
        expect(validateEnv({ ...env, ...server }).SERVICE_ROLE).toBe(role);
      }
      expect(validateEnv({ NODE_ENV: 'test', SERVICE_ROLE: role }).SERVICE_ROLE).toBe(role);
    }
    expect(validateEnv({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).SERVICE_ROLE).toBe(
      'all',
    );
  });

  it('takes a log format of auto, json or pretty', () => {
    expect(validateEnv({ LOG_FORMAT: 'pretty' }).LOG_FORMAT).toBe('pretty');
    expect(validateEnv({ LOG_FORMAT: ' ' }).LOG_FORMAT).toBe('auto');
    expect(() => validateEnv({ LOG_FORMAT: 'yaml' })).toThrow(
      /LOG_FORMAT: must be one of: auto, json, pretty/,
    );
  });

  it('takes TRUST_PROXY as true, false or the addresses and ranges of the proxies', () => {
    for (const proxies of ['10.0.0.1', '10.0.0.0/8, fd00::/8', 'loopback,uniquelocal', '::1/128']) {
      expect(validateEnv({ TRUST_PROXY: proxies }).TRUST_PROXY).toBe(proxies);
    }
    expect(validateEnv({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    // Not a hop count: `1` (Express's and Fastify's one hop) was read as true, every hop trusted.
    for (const proxies of [
      '1',
      ' 1 ',
      '0',
      'yes',
      '2',
      'proxy.internal',
      '10.0.0.0/33',
      '0.0.0.0/0',
      '::/0',
      '::1/129',
      '10.0.0.1,',
      '1.2.3.4/8/8',
    ]) {
      expect(() => validateEnv({ TRUST_PROXY: proxies })).toThrow(
        /TRUST_PROXY: must be true, false, or the addresses or CIDR ranges of the proxies/,
      );
    }
  });

  it('refuses rendition presets of size 0, past 9999, named twice, or named as the original', () => {
    expect(
      validateEnv({ IMAGE_RENDITIONS: 'a:1x1:cover,b:9999x9999:inside' }).IMAGE_RENDITIONS,
    ).toBe('a:1x1:cover,b:9999x9999:inside');
    for (const presets of [
      'thumb:0x0:cover',
      'thumb:150x0:cover',
      'thumb:010x10:cover',
      'thumb:10000x10:inside',
      'card:10x10:cover,card:20x20:inside',
      // Stored beside the original (`original.<ext>`): a WebP upload's would be written over.
      'original:100x100:cover,thumb:150x150:cover',
    ]) {
      expect(() => validateEnv({ IMAGE_RENDITIONS: presets })).toThrow(
        /IMAGE_RENDITIONS: .*each name once and none "original", sizes from 1 to 9999/,
      );
    }
  });

  it('refuses an ADMIN_PASSWORD login could not take, and a shutdown with no time to finish', () => {
    expect(validateEnv({ ADMIN_PASSWORD: 'p'.repeat(1024) }).ADMIN_PASSWORD).toHaveLength(1024);
    expect(() => validateEnv({ ADMIN_PASSWORD: 'p'.repeat(1025) })).toThrow(
      /ADMIN_PASSWORD: must be from 12 to 1024 characters/,
    );
    expect(() => validateEnv({ SHUTDOWN_TIMEOUT_MS: '0' })).toThrow(
      /SHUTDOWN_TIMEOUT_MS: must be an integer number of milliseconds between 1000 and 600000/,
    );
    expect(validateEnv({ SHUTDOWN_TIMEOUT_MS: '1000' }).SHUTDOWN_TIMEOUT_MS).toBe(1000);
  });

  it('takes a statement timeout of 0 (none) to an hour, 30 s unless set', () => {
    expect(validateEnv({}).DATABASE_STATEMENT_TIMEOUT_MS).toBe(30_000);
    expect(validateEnv({ DATABASE_STATEMENT_TIMEOUT_MS: '0' }).DATABASE_STATEMENT_TIMEOUT_MS).toBe(
      0,
    );
    for (const bad of ['-1', '3600001', '1.5', '30s']) {
      expect(() => validateEnv({ DATABASE_STATEMENT_TIMEOUT_MS: bad })).toThrow(
        /DATABASE_STATEMENT_TIMEOUT_MS: must be an integer number of milliseconds between 0 and 3600000/,
      );
    }
  });

  it('takes a job heartbeat of 10 s to 10 minutes, 30 s unless set', () => {
    expect(validateEnv({}).JOB_HEARTBEAT_SECONDS).toBe(30);
    expect(validateEnv({ JOB_HEARTBEAT_SECONDS: '10' }).JOB_HEARTBEAT_SECONDS).toBe(10);
    // pg-boss refuses a heartbeat under 10 s: refused here, at start-up, naming the setting.
    for (const value of ['9', '601', '12.5', 'soon']) {
      expect(() => validateEnv({ JOB_HEARTBEAT_SECONDS: value })).toThrow(
        'JOB_HEARTBEAT_SECONDS: must be an integer number of seconds between 10 and 600',
      );
    }
  });

  it('rejects a port out of range', () => {
    expect(() => validateEnv({ PORT: '70000' })).toThrow(/PORT: must be an integer/);
  });

  it('accepts a list of CORS origins and rejects garbage', () => {
    expect(
      validateEnv({ CORS_ORIGINS: 'https://a.example, http://b.example:8080' }).CORS_ORIGINS,
    ).toBe('https://a.example, http://b.example:8080');
    expect(() => validateEnv({ CORS_ORIGINS: 'not a url' })).toThrow(/CORS_ORIGINS/);
    expect(validateEnv({ CORS_ORIGINS: ' * ' }).CORS_ORIGINS).toBe('*');
  });

  // Browsers send `Origin: https://shop.example`, which CORS compares as a string: a value
  // pasted from the address bar was accepted, and CORS never answered that origin.
  it.each([
    'https://shop.example/',
    'https://shop.example/path',
    'https://Shop.example',
    'https://shop.example:443',
    'http://shop.example:80',
    'https://shop.example?x=1',
    'ftp://shop.example',
    'https://a.example,*',
    'https://a.example,,https://b.example',
  ])('refuses %j as an origin list, for CORS and the import allowance alike', (value) => {
    expect(() => validateEnv({ CORS_ORIGINS: value })).toThrow(
      /CORS_ORIGINS: must be empty, \* or a comma-separated list of origins as browsers send them/,
    );
    expect(() => validateEnv({ IMPORT_ALLOWED_PRIVATE_ORIGINS: value })).toThrow(
      /IMPORT_ALLOWED_PRIVATE_ORIGINS: must be empty or a comma-separated list of origins/,
    );
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
        // No shared secret to derive the transform URLs' key from: it must be given.
        DELIVERY_SIGNING_KEYS: 'a-transform-url-signing-key-of-32-characters',
      });
      expect(env.JWT_ALGORITHM).toBe('RS256');
    });

    it('take a clock tolerance of 0 to 300 s, 30 s unless set', () => {
      expect(validateEnv({}).JWT_CLOCK_TOLERANCE_SECONDS).toBe(30);
      expect(validateEnv({ JWT_CLOCK_TOLERANCE_SECONDS: '0' }).JWT_CLOCK_TOLERANCE_SECONDS).toBe(0);
      expect(validateEnv({ JWT_CLOCK_TOLERANCE_SECONDS: '300' }).JWT_CLOCK_TOLERANCE_SECONDS).toBe(
        300,
      );
      for (const bad of ['-1', '301', '1.5', 'soon'])
        expect(problemsOf({ JWT_CLOCK_TOLERANCE_SECONDS: bad })).toEqual([
          'JWT_CLOCK_TOLERANCE_SECONDS',
        ]);
      expect(() => validateEnv({ JWT_CLOCK_TOLERANCE_SECONDS: '301' })).toThrow(
        /JWT_CLOCK_TOLERANCE_SECONDS: must be an integer number of seconds between 0 and 300/,
      );
    });

    it('refuse any other algorithm', () => {
      expect(() => validateEnv({ JWT_ALGORITHM: 'none' })).toThrow(
        /JWT_ALGORITHM: must be HS256 or RS256/,
      );
    });
  });

  describe('storage settings', () => {
    it('require S3_BUCKET only for the s3 driver', () => {
      expect(validateEnv({}).S3_BUCKET).toBeUndefined();
      expect(() => validateEnv({ STORAGE_DRIVER: 's3' })).toThrow(
        /S3_BUCKET: is required when STORAGE_DRIVER=s3/,
      );
      const env = validateEnv({ STORAGE_DRIVER: 's3', S3_BUCKET: 'shop-images' });
      expect(env).toMatchObject({
        S3_REGION: 'us-east-1',
        S3_FORCE_PATH_STYLE: false,
        S3_KEY_PREFIX: '',
        S3_REQUEST_CHECKSUM_CALCULATION: 'WHEN_SUPPORTED',
        S3_PRESIGN_TTL_SECONDS: 3600,
        STORAGE_TIMEOUT_MS: 30000,
      });
      // Without keys: the AWS SDK's default credential chain.
      expect(env.S3_ACCESS_KEY_ID).toBeUndefined();
    });

    it('take S3 keys in pairs, and check prefixes, endpoints and checksum modes', () => {
      const s3 = { STORAGE_DRIVER: 's3', S3_BUCKET: 'shop-images' };
      expect(() => validateEnv({ ...s3, S3_ACCESS_KEY_ID: 'AKIA' })).toThrow(
        /S3_SECRET_ACCESS_KEY: is required when S3_ACCESS_KEY_ID is set/,
      );
      expect(() => validateEnv({ ...s3, S3_SECRET_ACCESS_KEY: 'secret' })).toThrow(
        /S3_ACCESS_KEY_ID: is required when S3_SECRET_ACCESS_KEY is set/,
      );
      expect(() =>
        validateEnv({
          ...s3,
          S3_KEY_PREFIX: '../x/',
          S3_ENDPOINT: 'minio:9000',
          S3_REQUEST_CHECKSUM_CALCULATION: 'NEVER',
        }),
      ).toThrow(/S3_ENDPOINT[\s\S]*S3_KEY_PREFIX[\s\S]*S3_REQUEST_CHECKSUM_CALCULATION/);
      expect(validateEnv({ ...s3, S3_KEY_PREFIX: 'shop/eu/' }).S3_KEY_PREFIX).toBe('shop/eu/');
    });

    it('require Cloudinary credentials as CLOUDINARY_URL or as three settings', () => {
      expect(() => validateEnv({ STORAGE_DRIVER: 'cloudinary' })).toThrow(
        /CLOUDINARY_CLOUD_NAME[\s\S]*CLOUDINARY_API_KEY[\s\S]*CLOUDINARY_API_SECRET/,
      );
      const byUrl = validateEnv({
        STORAGE_DRIVER: 'cloudinary',
        CLOUDINARY_URL: 'cloudinary://1234:abcd@shop',
      });
      expect(byUrl.CLOUDINARY_FOLDER).toBe('products/');
      expect(() =>
        validateEnv({ STORAGE_DRIVER: 'cloudinary', CLOUDINARY_URL: 'https://cloudinary.com' }),
      ).toThrow(/CLOUDINARY_URL: must look like cloudinary:\/\/API_KEY:API_SECRET@CLOUD_NAME/);
      const byParts = validateEnv({
        STORAGE_DRIVER: 'cloudinary',
        CLOUDINARY_CLOUD_NAME: 'shop',
        CLOUDINARY_API_KEY: '1234',
        CLOUDINARY_API_SECRET: 'abcd',
        CLOUDINARY_FOLDER: 'catalogue/',
      });
      expect(byParts.CLOUDINARY_FOLDER).toBe('catalogue/');
    });

    it("refuse a local storage folder that is, contains or lies inside DATA_DIR's private parts", () => {
      const data = '/srv/pis';
      const refused: [dataDir: string, storageDir: string][] = [
        [data, data],
        [data, '/srv'],
        [data, '/'],
        [data, `${data}/pglite`],
        [data, `${data}/pglite/base`],
        [data, `${data}/jwt-secret`],
        [data, `${data}/url-signing-key`],
        [data, `${data}/tmp`],
        [data, `${data}/tmp/uploads/x`],
        [data, `${data}/media/../tmp`],
        ['./data', 'data'],
      ];
      for (const [dataDir, storageDir] of refused) {
        let message = '';
        try {
          validateEnv({ DATA_DIR: dataDir, STORAGE_LOCAL_DIR: storageDir });
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message).toMatch(
          /STORAGE_LOCAL_DIR: must not be DATA_DIR, nor contain or lie inside DATA_DIR's private parts/,
        );
        expect(message).toMatch(/overlaps DATA_DIR\/(pglite|jwt-secret|url-signing-key|tmp)\./);
      }
      // The default, and folders beside the private ones, are fine.
      const accepted = [
        undefined,
        `${data}/media`,
        `${data}/pglite-media`,
        `${data}/tmpx`,
        '/var/m',
      ];
      for (const dir of accepted) {
        expect(validateEnv({ DATA_DIR: data, STORAGE_LOCAL_DIR: dir }).STORAGE_LOCAL_DIR).toBe(dir);
      }
      // Only local storage serves the folder.
      const s3 = { STORAGE_DRIVER: 's3', S3_BUCKET: 'shop-images' };
      expect(() => validateEnv({ ...s3, DATA_DIR: data, STORAGE_LOCAL_DIR: data })).not.toThrow();
    });

    it('refuse DATA_DIR and the local storage folder in /proc or /sys, where none can be made', () => {
      expect(problemsOf({ DATA_DIR: '/proc/pis/data', STORAGE_LOCAL_DIR: '/sys/pis' })).toEqual([
        'DATA_DIR',
        'STORAGE_LOCAL_DIR',
      ]);
      expect(problemsOf({ DATA_DIR: '/proc' })).toEqual(['DATA_DIR']);
      // A folder still to be made on a disk is fine; STORAGE_LOCAL_DIR only counts for local.
      expect(problemsOf({ DATA_DIR: join(tmpdir(), 'pis-not-yet', 'data') })).toEqual([]);
      const s3 = { STORAGE_DRIVER: 's3', S3_BUCKET: 'shop-images' };
      expect(problemsOf({ ...s3, STORAGE_LOCAL_DIR: '/proc/pis' })).toEqual([]);
    });

    it('refuse a JWT issuer or audience with spaces around it or a control character', () => {
      // Compared as they are with each token's iss and aud: "pis " (a space after a value in an
      // env file) on one instance refused every token another instance signed, as 401s.
      for (const bad of [' pis', 'pis ', 'pis\n', 'p\u0007is', 'p\u009bis']) {
        expect(problemsOf({ JWT_ISSUER: bad })).toEqual(['JWT_ISSUER']);
        expect(problemsOf({ JWT_AUDIENCE: bad })).toEqual(['JWT_AUDIENCE']);
      }
      expect(problemsOf({ JWT_ISSUER: 'https://shop.example/pis', JWT_AUDIENCE: 'a b' })).toEqual(
        [],
      );
      let message = '';
      try {
        validateEnv({ JWT_AUDIENCE: 'pis ' });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(
        '  - JWT_AUDIENCE: must be text without spaces around it or control characters\n',
      );
    });

    it('refuse a path with spaces around it or a control character, rather than a folder made relative to the working directory', () => {
      // DATA_DIR=" /data" (a space after = in a container's environment) was taken as the
      // relative path " /data": the database, keys and media went into a folder of that name
      // under the working directory, not onto the volume at /data.
      const rule = 'must be a path without spaces around it or control characters';
      const paths = ['DATA_DIR', 'STORAGE_LOCAL_DIR'];
      const keys = ['JWT_PRIVATE_KEY_FILE', 'JWT_PUBLIC_KEY_FILE', 'JWT_PREVIOUS_PUBLIC_KEY_FILE'];
      const rs256 = { JWT_ALGORITHM: 'RS256', DELIVERY_SIGNING_KEYS: 'd'.repeat(40) };
      for (const bad of [
        ' /srv/pis',
        '/srv/pis ',
        '/srv/pis\n',
        '/srv/\u0007pis',
        '/srv/\u009bpis',
      ]) {
        for (const name of paths) expect(problemsOf({ [name]: bad })).toEqual([name]);
        for (const name of keys) {
          const problems = problemsOf({
            ...rs256,
            JWT_PRIVATE_KEY_FILE: '/k',
            JWT_PUBLIC_KEY_FILE: '/p',
            [name]: bad,
          });
          expect(problems).toEqual([name]);
        }
      }
      let message = '';
      try {
        validateEnv({ DATA_DIR: ' /srv/pis' });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(`  - DATA_DIR: ${rule}\n`);
      expect(message).not.toContain('/srv/pis');
      // Blank is still the default, and inner spaces and non-ASCII letters are fine.
      expect(validateEnv({ DATA_DIR: '   ' }).DATA_DIR).toBe('./data');
      expect(problemsOf({ DATA_DIR: join(tmpdir(), 'pis données', 'data') })).toEqual([]);
    });

    it('refuse a DATA_DIR or local storage folder that is a file, or lies below one', () => {
      const dir = mkdtempSync(join(tmpdir(), 'pis-env-'));
      try {
        const file = join(dir, 'a-file');
        writeFileSync(file, '');
        let message = '';
        try {
          validateEnv({ DATA_DIR: file, STORAGE_LOCAL_DIR: join(file, 'media', 'x') });
        } catch (error) {
          message = (error as Error).message;
        }
        const rule = 'must be a folder, or where one can be made: it is a file, or lies below one';
        expect(message).toContain(`  - DATA_DIR: ${rule}\n  - STORAGE_LOCAL_DIR: ${rule}\n`);
        expect(problemsOf({ DATA_DIR: dir, STORAGE_LOCAL_DIR: join(dir, 'media') })).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('know every private part of DATA_DIR the service writes', () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'pis-env-'));
      try {
        const env = validateEnv({ DATA_DIR: dataDir, NODE_ENV: 'test' });
        loadJwtKeys(env);
        loadUrlSigner(env);
        const written = [
          ...readdirSync(dataDir).map((name) => join(dataDir, name)),
          embeddedDatabaseDir(env),
          uploadTempDir(env),
        ];
        for (const path of written) {
          const top = relative(dataDir, path).split(/[\\/]/)[0];
          expect(DATA_DIR_PRIVATE_ENTRIES).toContain(top);
          expect(storageDirConflict(path, dataDir)).toBe(`DATA_DIR/${top}`);
        }
        expect(storageDirConflict(localStorageRoot(env), dataDir)).toBeUndefined();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it('refuse public base URLs with a user name or password, never echoing them', () => {
      // Every image URL, transform URL and console page would hand the credentials to clients.
      for (const name of ['PUBLIC_BASE_URL', 'S3_PUBLIC_BASE_URL'] as const) {
        for (const url of ['https://ops:hunter2-secret@cdn.example', 'https://ops@cdn.example']) {
          let message = '';
          try {
            validateEnv({ STORAGE_DRIVER: 's3', S3_BUCKET: 'shop-images', [name]: url });
          } catch (error) {
            message = (error as Error).message;
          }
          expect(message).toMatch(
            new RegExp(
              `${name}: must be an absolute http\\(s\\) URL without a user name or password`,
            ),
          );
          expect(message).not.toContain('hunter2-secret');
        }
        expect(validateEnv({ [name]: 'https://cdn.example/shop' })[name]).toBe(
          'https://cdn.example/shop',
        );
      }
    });

    it('never echo a value, secrets included', () => {
      const secret = 'cloudinary://1234:very-secret-value@shop?x';
      let message = '';
      try {
        validateEnv({ STORAGE_DRIVER: 'cloudinary', CLOUDINARY_URL: `${secret} junk` });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain('CLOUDINARY_URL');
      expect(message).not.toContain('very-secret-value');
    });
  });

  describe('image import settings', () => {
    it('refuse the test-only allowances in production, and only there', () => {
      const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) };
      expect(problemsOf({ ...production, IMPORT_ALLOW_PRIVATE_NETWORKS: 'true' })).toEqual([
        'IMPORT_ALLOW_PRIVATE_NETWORKS',
      ]);
      expect(
        problemsOf({ ...production, IMPORT_ALLOWED_PRIVATE_ORIGINS: 'http://127.0.0.1:8080' }),
      ).toEqual(['IMPORT_ALLOWED_PRIVATE_ORIGINS']);
      expect(problemsOf(production)).toEqual([]);
      const test = validateEnv({
        NODE_ENV: 'test',
        IMPORT_ALLOW_PRIVATE_NETWORKS: 'true',
        IMPORT_ALLOWED_PRIVATE_ORIGINS: 'http://127.0.0.1:8080, https://[::1]:8443',
      });
      expect(test.IMPORT_ALLOW_PRIVATE_NETWORKS).toBe(true);
      expect(problemsOf({ IMPORT_ALLOWED_PRIVATE_ORIGINS: 'http://a/b' })).toEqual([
        'IMPORT_ALLOWED_PRIVATE_ORIGINS',
      ]);
    });

    it('check ports', () => {
      expect(problemsOf({ IMPORT_ALLOWED_PORTS: '80, 443,8080' })).toEqual([]);
      for (const ports of ['0', '65536', '80,', 'http', '80;443']) {
        expect(problemsOf({ IMPORT_ALLOWED_PORTS: ports })).toEqual(['IMPORT_ALLOWED_PORTS']);
      }
    });
  });

  describe('sweep schedules', () => {
    it('take a five-field UTC cron expression, its fields one space apart, or off', () => {
      expect(validateEnv({})).toMatchObject({
        UNATTACHED_IMAGE_SWEEP_CRON: '*/10 * * * *',
        ORPHAN_SWEEP_CRON: '30 3 * * *',
        ORPHAN_SWEEP_GRACE_HOURS: 24,
      });
      const env = validateEnv({
        UNATTACHED_IMAGE_SWEEP_CRON: ' 0,30  8-18/2 * 1-12 1-5 ',
        ORPHAN_SWEEP_CRON: 'off',
        ORPHAN_SWEEP_GRACE_HOURS: '2',
      });
      expect(env.UNATTACHED_IMAGE_SWEEP_CRON).toBe('0,30 8-18/2 * 1-12 1-5');
      expect(env.ORPHAN_SWEEP_CRON).toBe('off');
      expect(env.ORPHAN_SWEEP_GRACE_HOURS).toBe(2);
      for (const cron of ['* * * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '5-1 * * * *']) {
        expect(() => validateEnv({ ORPHAN_SWEEP_CRON: cron })).toThrow(
          /ORPHAN_SWEEP_CRON: must be off or a cron expression of five numeric fields/,
        );
      }
      for (const cron of ['*/0 * * * *', '@daily', '0 0 * * MON', 'never']) {
        expect(() => validateEnv({ UNATTACHED_IMAGE_SWEEP_CRON: cron })).toThrow(
          /UNATTACHED_IMAGE_SWEEP_CRON/,
        );
      }
      // A day of month none of its months has: pg-boss's scheduler would refuse it at start-up
      // with a message naming no variable; a day some month has (29 February) is taken.
      for (const cron of ['0 3 30 2 *', '0 0 31 4,6,9,11 *']) {
        expect(() => validateEnv({ ORPHAN_SWEEP_CRON: cron })).toThrow(
          /ORPHAN_SWEEP_CRON: .*with a day of month that one of its months has/,
        );
      }
      for (const cron of ['0 0 29 2 *', '0 0 31 1-2 *']) {
        expect(validateEnv({ UNATTACHED_IMAGE_SWEEP_CRON: cron }).UNATTACHED_IMAGE_SWEEP_CRON).toBe(
          cron,
        );
      }
      expect(validateEnv({ UV_THREADPOOL_SIZE: '12' }).UV_THREADPOOL_SIZE).toBe(12);
      expect(() => validateEnv({ UV_THREADPOOL_SIZE: '0' })).toThrow(
        /UV_THREADPOOL_SIZE: must be an integer between 1 and 1024/,
      );
      // Blank: twice IMAGE_PROCESSING_CONCURRENCY, worked out by the processor.
      expect(validateEnv({ TRANSFORM_READ_CONCURRENCY: '' }).TRANSFORM_READ_CONCURRENCY).toBe(
        undefined,
      );
      expect(validateEnv({ TRANSFORM_READ_CONCURRENCY: '6' }).TRANSFORM_READ_CONCURRENCY).toBe(6);
      for (const value of ['0', '1001', '2.5', 'many']) {
        expect(() => validateEnv({ TRANSFORM_READ_CONCURRENCY: value })).toThrow(
          /TRANSFORM_READ_CONCURRENCY: must be an integer between 1 and 1000/,
        );
      }
      expect(() => validateEnv({ ORPHAN_SWEEP_GRACE_HOURS: '0' })).toThrow(
        /ORPHAN_SWEEP_GRACE_HOURS: must be an integer number of hours between 1 and 8760/,
      );
    });
  });

  describe('slow-client timeouts', () => {
    it('default to a 20 s header timeout, 4 KiB/s bodies, 15 minutes a request, 72 s keep-alive, 60 s of unread answer', () => {
      expect(validateEnv({})).toMatchObject({
        HTTP_HEADERS_TIMEOUT_MS: 20_000,
        HTTP_BODY_MIN_BYTES_PER_SECOND: 4096,
        HTTP_REQUEST_TIMEOUT_MS: 900_000,
        HTTP_KEEP_ALIVE_TIMEOUT_MS: 72_000,
        HTTP_SEND_TIMEOUT_MS: 60_000,
        UPLOAD_SPOOL_SWEEP_SECONDS: 600,
      });
      // A 15 MiB upload fits in the request timeout at 140 kbit/s, a slow mobile link.
      expect((15 * 1024 * 1024 * 8) / (900_000 / 1000)).toBeLessThan(140_000);
    });

    it('refuse values out of range, and a request timeout shorter than the header timeout', () => {
      expect(problemsOf({ HTTP_HEADERS_TIMEOUT_MS: '999' })).toEqual(['HTTP_HEADERS_TIMEOUT_MS']);
      expect(problemsOf({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '0' })).toEqual([
        'HTTP_KEEP_ALIVE_TIMEOUT_MS',
      ]);
      expect(problemsOf({ HTTP_SEND_TIMEOUT_MS: '0' })).toEqual(['HTTP_SEND_TIMEOUT_MS']);
      expect(problemsOf({ HTTP_BODY_MIN_BYTES_PER_SECOND: '-1' })).toEqual([
        'HTTP_BODY_MIN_BYTES_PER_SECOND',
      ]);
      expect(problemsOf({ HTTP_BODY_MIN_BYTES_PER_SECOND: '0' })).toEqual([]);
      expect(problemsOf({ UPLOAD_SPOOL_SWEEP_SECONDS: '1.5' })).toEqual([
        'UPLOAD_SPOOL_SWEEP_SECONDS',
      ]);
      expect(
        problemsOf({ HTTP_HEADERS_TIMEOUT_MS: '30000', HTTP_REQUEST_TIMEOUT_MS: '20000' }),
      ).toEqual(['HTTP_REQUEST_TIMEOUT_MS']);
      expect(() => validateEnv({ HTTP_REQUEST_TIMEOUT_MS: '3600001' })).toThrow(
        /HTTP_REQUEST_TIMEOUT_MS: must be an integer number of milliseconds between 1000 and 3600000, and at least HTTP_HEADERS_TIMEOUT_MS/,
      );
    });
  });

  it('refuses an in-flight Idempotency-Key time no longer than a request may take to arrive', () => {
    // Else a retry takes over the key of an upload still arriving, and the upload is rolled back.
    expect(problemsOf({ IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: '60' })).toEqual([
      'IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS',
    ]);
    expect(
      problemsOf({ IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: '900', HTTP_REQUEST_TIMEOUT_MS: '900000' }),
    ).toEqual(['IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS']);
    expect(() =>
      validateEnv({ IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: '3', HTTP_REQUEST_TIMEOUT_MS: '5000' }),
    ).toThrow(/IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: .*longer than HTTP_REQUEST_TIMEOUT_MS/);
    expect(
      problemsOf({
        IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: '3',
        HTTP_REQUEST_TIMEOUT_MS: '2000',
        HTTP_HEADERS_TIMEOUT_MS: '1000',
      }),
    ).toEqual([]);
    expect(problemsOf({ IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: '901' })).toEqual([]);
    // A key working past its TTL would be forgotten, and a retry would take it over.
    expect(
      problemsOf({
        IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: '7200',
        IDEMPOTENCY_KEY_TTL_HOURS: '1',
      }),
    ).toEqual(['IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS']);
    expect(
      problemsOf({ IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: '3600', IDEMPOTENCY_KEY_TTL_HOURS: '1' }),
    ).toEqual([]);
  });

  it("takes the OpenTelemetry propagators by the SDK's names, and refuses a misspelt one", () => {
    for (const value of ['tracecontext', 'tracecontext, baggage', 'b3multi,jaeger', 'none', '']) {
      expect({ value, problems: problemsOf({ OTEL_PROPAGATORS: value }) }).toEqual({
        value,
        problems: [],
      });
    }
    for (const value of ['tracecontxt', 'tracecontext;baggage', 'b3,', 'xray']) {
      expect({ value, problems: problemsOf({ OTEL_PROPAGATORS: value }) }).toEqual({
        value,
        problems: ['OTEL_PROPAGATORS'],
      });
    }
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
