import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateEnv } from '../../config/env.validation';
import { loadUrlSigner, UrlSigner } from './url-signer';

const KEY = 'k'.repeat(32);
const OLD = 'o'.repeat(32);

describe(UrlSigner.name, () => {
  it('signs `<options>/<id>` with HMAC-SHA256 (16 bytes) in base64url, as a client would', () => {
    const expected = createHmac('sha256', KEY)
      .update('w_100,f_auto/abc')
      .digest()
      .subarray(0, 16)
      .toString('base64url');
    expect(new UrlSigner([KEY]).sign('w_100,f_auto', 'abc')).toBe(expected);
  });

  it('accepts every configured key, signs with the first, and refuses anything else', () => {
    const signer = new UrlSigner([KEY, OLD]);
    const old = new UrlSigner([OLD]).sign('w_100', 'abc');
    expect(signer.verify(old, 'w_100', 'abc')).toBe(true);
    expect(signer.verify(signer.sign('w_100', 'abc'), 'w_100', 'abc')).toBe(true);
    expect(signer.verify(old, 'w_101', 'abc')).toBe(false);
    expect(signer.verify(old, 'w_100', 'abd')).toBe(false);
    for (const bad of ['', 'x', old.slice(1), `${old}A`, old.replace(/.$/, '='), '%%%']) {
      expect(signer.verify(bad, 'w_100', 'abc')).toBe(false);
    }
  });
});

describe(loadUrlSigner.name, () => {
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'pis-url-signer-'))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('uses DELIVERY_SIGNING_KEYS when set, the first one signing', () => {
    const env = validateEnv({ DATA_DIR: dataDir, DELIVERY_SIGNING_KEYS: `${KEY},${OLD}` });
    expect(loadUrlSigner(env).sign('w_1', 'a')).toBe(new UrlSigner([KEY]).sign('w_1', 'a'));
  });

  it('derives a key of its own from JWT_SECRET, so instances sharing it agree', () => {
    const env = validateEnv({ DATA_DIR: dataDir, JWT_SECRET: 'j'.repeat(40) });
    const a = loadUrlSigner(env).sign('w_1', 'a');
    expect(loadUrlSigner(env).sign('w_1', 'a')).toBe(a);
    expect(a).not.toBe(new UrlSigner(['j'.repeat(40)]).sign('w_1', 'a'));
  });

  it('accepts, without signing with it, the key derived from JWT_PREVIOUS_SECRET', () => {
    const before = loadUrlSigner(validateEnv({ DATA_DIR: dataDir, JWT_SECRET: 'p'.repeat(40) }));
    const rotated = validateEnv({
      DATA_DIR: dataDir,
      JWT_SECRET: 'j'.repeat(40),
      JWT_PREVIOUS_SECRET: 'p'.repeat(40),
    });
    const signer = loadUrlSigner(rotated);
    expect(signer.verify(before.sign('w_1', 'a'), 'w_1', 'a')).toBe(true);
    const now = loadUrlSigner(validateEnv({ DATA_DIR: dataDir, JWT_SECRET: 'j'.repeat(40) }));
    expect(signer.sign('w_1', 'a')).toBe(now.sign('w_1', 'a'));
    expect(now.verify(before.sign('w_1', 'a'), 'w_1', 'a')).toBe(false);
  });

  it('generates a development key once into DATA_DIR, readable by its owner only', () => {
    const env = validateEnv({ DATA_DIR: dataDir, NODE_ENV: 'development' });
    const a = loadUrlSigner(env).sign('w_1', 'a');
    expect(loadUrlSigner(env).sign('w_1', 'a')).toBe(a);
    const file = join(dataDir, 'url-signing-key');
    expect(readFileSync(file, 'utf8').length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('is refused at start-up in production with neither key nor JWT secret', () => {
    expect(() =>
      validateEnv({
        NODE_ENV: 'production',
        JWT_ALGORITHM: 'RS256',
        JWT_PRIVATE_KEY_FILE: '/k',
        JWT_PUBLIC_KEY_FILE: '/k.pub',
      }),
    ).toThrow(/DELIVERY_SIGNING_KEYS: must be 1 to 8 comma-separated keys/);
    expect(() => validateEnv({ DELIVERY_SIGNING_KEYS: 'short' })).toThrow(/DELIVERY_SIGNING_KEYS/);
  });
});
