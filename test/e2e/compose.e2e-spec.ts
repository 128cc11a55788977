import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../support/process';

/**
 * `npm run compose:check` (scripts/check-compose.mjs), what CI runs instead of installing Docker
 * Compose: it accepts the real docker-compose.yml, and refuses a copy of it broken in one way,
 * naming the line and the path of each problem.
 */

const SCRIPT = join(ROOT, 'scripts', 'check-compose.mjs');
const REAL = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pis-compose-'));
  // What the real file mounts from beside it, so that its copies differ only where broken.
  mkdirSync(join(dir, 'docker'));
  copyFileSync(join(ROOT, 'docker', 'nginx.conf'), join(dir, 'docker', 'nginx.conf'));
  cpSync(join(ROOT, 'ops'), join(dir, 'ops'), { recursive: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function check(file: string, env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [SCRIPT, file], {
    cwd: dir,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The real file with `from` (which must occur exactly once) replaced by `to`. */
function broken(name: string, from: string, to: string): string {
  expect(REAL.split(from)).toHaveLength(2);
  const file = join(dir, name);
  writeFileSync(file, REAL.replace(from, to));
  return file;
}

/** The 1-based line of the first line of `text` that contains `needle`. */
function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((line) => line.includes(needle)) + 1;
}

describe('compose:check', () => {
  it('accepts the real docker-compose.yml, as Compose sees it with no environment', () => {
    // Variables set in the caller's environment change nothing: the check uses none.
    const result = check(join(ROOT, 'docker-compose.yml'), { POSTGRES_USER: '' });
    expect(result).toEqual({
      code: 0,
      stdout: expect.stringContaining('docker-compose.yml: valid'),
      stderr: '',
    });
  });

  it('pins every image of the real file to a version', () => {
    const images = [...REAL.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1]);
    expect(images.length).toBeGreaterThanOrEqual(4);
    for (const image of images) {
      expect(image).toMatch(/:[^/:]+$/);
      expect(image).not.toMatch(/:latest$/);
    }
    expect(REAL).not.toMatch(/^version:/m);
  });

  it('runs the API twice behind the proxy and one worker, on the one database and bucket', () => {
    type Service = {
      environment?: Record<string, string>;
      deploy?: { replicas?: number };
      ports?: string[];
    };
    const { services } = parse(REAL, { merge: true }) as { services: Record<string, Service> };
    const { api, worker, proxy } = services;
    expect({
      api: [api.environment?.SERVICE_ROLE, api.deploy?.replicas],
      worker: [worker.environment?.SERVICE_ROLE, worker.deploy?.replicas ?? 1],
      apiPorts: api.ports,
      workerPorts: worker.ports,
      proxyPorts: proxy.ports,
    }).toEqual({
      api: ['api', 2],
      worker: ['worker', 1],
      apiPorts: undefined,
      workerPorts: undefined,
      proxyPorts: ['3000:3000'],
    });
    // What they share: every setting but the role (and the API's proxy and CORS settings).
    const { SERVICE_ROLE: _a, TRUST_PROXY: _t, CORS_ORIGINS: _c, ...apiShared } = api.environment!;
    const { SERVICE_ROLE: _w, ...workerShared } = worker.environment!;
    expect(workerShared).toEqual(apiShared);
    expect(workerShared).toMatchObject({ STORAGE_DRIVER: 's3', S3_BUCKET: 'product-images' });
    expect(workerShared.DATABASE_URL).toMatch(/@postgres:5432\//);
  });

  const cases: Array<{
    name: string;
    from: string;
    to: string;
    line: string;
    message: string;
  }> = [
    {
      name: 'an unknown key (schema)',
      from: '    command: server /data --console-address :9001\n',
      to: '    command: server /data --console-address :9001\n    restart_policy: always\n',
      line: 'restart_policy',
      message: 'services.minio.restart_policy: unknown key "restart_policy"',
    },
    {
      name: 'a value of the wrong type (schema)',
      from: "    ports:\n      - '3000:3000'\n",
      to: "    ports: '3000:3000'\n",
      line: "ports: '3000:3000'",
      message: 'services.proxy.ports: must be array',
    },
    {
      name: 'a value outside its enum (schema)',
      from: '      condition: service_completed_successfully',
      to: '      condition: service_finished',
      line: 'service_finished',
      message:
        'services.api.depends_on.minio-create-bucket.condition: must be one of: service_started, service_healthy, service_completed_successfully',
    },
    {
      name: 'the obsolete version key',
      from: '\nservices:\n',
      to: "\nversion: '3.8'\nservices:\n",
      line: 'version:',
      message: 'version: obsolete',
    },
    {
      name: 'an image without a tag',
      from: '    image: minio/minio:',
      to: '    image: minio/minio\n    x-was: ',
      line: 'image: minio/minio',
      message: 'services.minio.image: "minio/minio" has no tag',
    },
    {
      name: 'an image on the latest tag',
      from: '    image: postgres:',
      to: '    image: postgres:latest\n    x-was: ',
      line: 'image: postgres:latest',
      message: 'services.postgres.image: "postgres:latest" uses the floating tag "latest"',
    },
    {
      name: 'an image whose tag is a variable without a default (blank with no environment)',
      from: '    image: postgres:',
      to: '    image: postgres${POSTGRES_TAG}\n    x-was: ',
      line: 'POSTGRES_TAG',
      message: 'services.postgres.image: "postgres" has no tag',
    },
    {
      name: 'a required variable (${VAR:?message})',
      from: '    JWT_SECRET: ${JWT_SECRET:-}',
      to: '    JWT_SECRET: ${JWT_SECRET:?set JWT_SECRET}',
      line: 'JWT_SECRET: ${JWT_SECRET:?',
      message:
        'x-service.environment.JWT_SECRET: required variable JWT_SECRET is missing a value: set JWT_SECRET',
    },
    {
      name: 'an invalid interpolation',
      from: '    LOG_LEVEL: ${LOG_LEVEL:-info}',
      to: '    LOG_LEVEL: ${LOG LEVEL}',
      line: 'LOG_LEVEL: ${LOG LEVEL}',
      message: 'x-service.environment.LOG_LEVEL: invalid interpolation format',
    },
    {
      name: 'a dependency on an undefined service',
      from: '    postgres:\n      condition: service_healthy\n    minio:\n      condition: service_healthy\n    minio-create-bucket:',
      to: '    postgres:\n      condition: service_healthy\n    minio:\n      condition: service_healthy\n    create-bucket:',
      line: '    create-bucket:',
      message:
        'services.api.depends_on.create-bucket: depends on undefined service "create-bucket"',
    },
    {
      name: 'an undeclared named volume',
      from: '    - app-data:/data',
      to: '    - app-state:/data',
      line: 'app-state:/data',
      message:
        'services.api.volumes[0]: named volume "app-state" is not declared under the top-level volumes',
    },
    {
      name: 'a bind mount of a file that does not exist',
      from: '      - ./docker/nginx.conf:',
      to: '      - ./docker/nginx.cnf:',
      line: './docker/nginx.cnf',
      message:
        'services.proxy.volumes[0]: bind mount source "./docker/nginx.cnf" does not exist (relative to the file\'s folder)',
    },
    {
      name: 'invalid YAML (a duplicate key)',
      from: '  init: true\n',
      to: '  init: true\n  init: false\n',
      line: 'init: false',
      message: 'invalid YAML: Map keys must be unique',
    },
  ];

  it.each(cases)('refuses $name, naming its line and path', ({ name, from, to, line, message }) => {
    const file = broken(`${name.replace(/\W+/g, '-')}.yml`, from, to);
    const text = readFileSync(file, 'utf8');
    const result = check(file);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const expectedLine = lineOf(text, line);
    expect(result.stderr).toContain(`${file}:${expectedLine}:`);
    expect(result.stderr).toMatch(new RegExp(`${file}:${expectedLine}:\\d+: ${escape(message)}`));
    expect(result.stderr).toContain(`${file}: 1 problem(s)`);
  });

  it('reports every problem of a file, in line order, and a missing file', () => {
    const file = join(dir, 'many.yml');
    writeFileSync(
      file,
      [
        'services:',
        '  web:',
        '    image: nginx',
        '    ports: 80',
        '  db:',
        '    image: postgres:latest',
        '    frobnicate: true',
        '',
      ].join('\n'),
    );
    const result = check(file);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `${file}:3:12: services.web.image: "nginx" has no tag: pin a version (name:1.2.3) or a digest`,
      `${file}:4:12: services.web.ports: must be array`,
      `${file}:6:12: services.db.image: "postgres:latest" uses the floating tag "latest": pin a version or a digest`,
      `${file}:7:5: services.db.frobnicate: unknown key "frobnicate"`,
      `${file}: 4 problem(s)`,
    ]);

    const missing = check(join(dir, 'absent.yml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ENOENT');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
