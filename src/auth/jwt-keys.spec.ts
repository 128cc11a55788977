import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { validateEnv } from '../config/env.validation';
import { keyId, loadJwtKeys } from './jwt-keys';

const pem = (key: KeyObject) =>
  key.export(
    key.type === 'private' ? { type: 'pkcs8', format: 'pem' } : { type: 'spki', format: 'pem' },
  );

describe(loadJwtKeys.name, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pis-jwt-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, content: string | Buffer) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  const rs256 = (privateFile: string, publicFile: string, previousFile?: string) =>
    loadJwtKeys(
      validateEnv({
        DATA_DIR: dir,
        JWT_ALGORITHM: 'RS256',
        JWT_PRIVATE_KEY_FILE: privateFile,
        JWT_PUBLIC_KEY_FILE: publicFile,
        JWT_PREVIOUS_PUBLIC_KEY_FILE: previousFile,
      }),
    );
  const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('parses an HS256 secret once, and verifies tokens signed with the secret as text', () => {
    const secret = 'a-secret-of-at-least-thirty-two-characters';
    const keys = loadJwtKeys(validateEnv({ DATA_DIR: dir, JWT_SECRET: secret }));
    expect(keys.verificationKey).toBeInstanceOf(KeyObject);
    expect(keys.verificationKey.type).toBe('secret');
    // Tokens issued before the keys were parsed (signed with the string) still verify.
    const token = jwt.sign({ sub: 'u' }, secret, { algorithm: 'HS256' });
    expect(jwt.verify(token, keys.verificationKey, { algorithms: ['HS256'] })).toMatchObject({
      sub: 'u',
    });
    expect(() =>
      jwt.verify(jwt.sign({ sub: 'u' }, `${secret}x`), keys.verificationKey, {
        algorithms: ['HS256'],
      }),
    ).toThrow('invalid signature');
  });

  it('parses an RS256 pair once, and signs what the public key verifies', () => {
    const { privateKey, publicKey } = rsa();
    const keys = rs256(file('private.pem', pem(privateKey)), file('public.pem', pem(publicKey)));
    expect(keys.signingKey.type).toBe('private');
    expect(keys.verificationKey.type).toBe('public');
    const token = jwt.sign({ sub: 'u' }, keys.signingKey, { algorithm: 'RS256' });
    expect(jwt.verify(token, pem(publicKey), { algorithms: ['RS256'] })).toMatchObject({
      sub: 'u',
    });
  });

  it('stops the start on a key file that is missing, not PEM, not RSA, or not of the pair', () => {
    const { privateKey, publicKey } = rsa();
    const privateFile = file('p.pem', pem(privateKey));
    const publicFile = file('q.pem', pem(publicKey));
    expect(() => rs256(join(dir, 'missing.pem'), publicFile)).toThrow(
      /^JWT_PRIVATE_KEY_FILE \(.*missing\.pem\) is not a readable PEM private key: ENOENT$/,
    );
    expect(() => rs256(privateFile, file('text.pem', 'not a key'))).toThrow(
      /^JWT_PUBLIC_KEY_FILE \(.*\) is not a readable PEM public key: /,
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => rs256(file('ec.pem', pem(ec.privateKey)), publicFile)).toThrow(
      /^JWT_PRIVATE_KEY_FILE \(.*ec\.pem\) holds an ec key; RS256 needs RSA$/,
    );
    expect(() => rs256(privateFile, file('other.pem', pem(rsa().publicKey)))).toThrow(
      'JWT_PUBLIC_KEY_FILE is not the public key of JWT_PRIVATE_KEY_FILE',
    );
  });

  describe('rotation', () => {
    const current = 'the-current-secret-of-at-least-32-characters';
    const previous = 'the-previous-secret-of-at-least-32-characters';
    const hs256 = (env: Record<string, string>) =>
      loadJwtKeys(validateEnv({ DATA_DIR: dir, JWT_SECRET: current, ...env }));

    it('names each key by a stable id that reveals neither secret', () => {
      const keys = hs256({});
      expect(keys.keyId).toMatch(/^[\w-]{16}$/);
      expect(hs256({}).keyId).toBe(keys.keyId);
      expect(hs256({ JWT_SECRET: previous }).keyId).not.toBe(keys.keyId);
      expect(current).not.toContain(keys.keyId);
    });

    it('verifies with the previous secret only the tokens whose kid names it', () => {
      const keys = hs256({ JWT_PREVIOUS_SECRET: previous });
      const old = hs256({ JWT_SECRET: previous });
      const token = jwt.sign({ sub: 'u' }, previous, { algorithm: 'HS256', keyid: old.keyId });
      expect(keys.verificationKeyFor(old.keyId, token)?.export().toString()).toBe(previous);
      expect(keys.verificationKeyFor(keys.keyId, token)).toBe(keys.verificationKey);
      expect(keys.verificationKeyFor('unknown', token)).toBeUndefined();
      expect(keys.verificationKeyFor(['x'], token)).toBeUndefined();
      // Without JWT_PREVIOUS_SECRET the old key is nobody's.
      expect(hs256({}).verificationKeyFor(old.keyId, token)).toBeUndefined();
    });

    it('verifies a token without kid with whichever key signed it, current or previous', () => {
      const keys = hs256({ JWT_PREVIOUS_SECRET: previous });
      const unnamed = (secret: string) => jwt.sign({ sub: 'u' }, secret, { algorithm: 'HS256' });
      const verified = (token: string, k = keys) => {
        const key = k.verificationKeyFor(undefined, token);
        return jwt.verify(token, key!, { algorithms: ['HS256'] });
      };
      // Issued before key ids, or by an instance not yet upgraded, on either side of a rotation.
      expect(verified(unnamed(current))).toMatchObject({ sub: 'u' });
      expect(verified(unnamed(previous))).toMatchObject({ sub: 'u' });
      // Any other secret, a bad signature, or no token shape at all: the current key, which refuses.
      const other = unnamed('another-secret-of-at-least-32-characters!');
      expect(() => verified(other)).toThrow('invalid signature');
      expect(keys.verificationKeyFor(undefined, 'not.a')).toBe(keys.verificationKey);
      expect(keys.verificationKeyFor(undefined, `${unnamed(previous)}x`)).toBe(
        keys.verificationKey,
      );
      // Without JWT_PREVIOUS_SECRET the previous secret verifies nothing.
      expect(() => verified(unnamed(previous), hs256({}))).toThrow('invalid signature');
    });

    it('verifies with a previous RS256 public key, and refuses a previous key of the other algorithm', () => {
      const now = rsa();
      const before = rsa();
      const keys = rs256(
        file('now.pem', pem(now.privateKey)),
        file('now.pub.pem', pem(now.publicKey)),
        file('before.pub.pem', pem(before.publicKey)),
      );
      const token = jwt.sign({ sub: 'u' }, before.privateKey, { algorithm: 'RS256' });
      const previousKey = keys.verificationKeyFor(keyId(before.publicKey), token);
      expect(previousKey?.type).toBe('public');
      expect(jwt.verify(token, previousKey!, { algorithms: ['RS256'] })).toMatchObject({
        sub: 'u',
      });
      expect(keys.verificationKeyFor(keyId(now.publicKey), token)).toBe(keys.verificationKey);
      // The key set names both, under their kid; built once, not on every request for it.
      const set = keys.publicKeySet();
      expect(set?.keys.map((k) => k.kid)).toEqual([keyId(now.publicKey), keyId(before.publicKey)]);
      expect(keys.publicKeySet()).toBe(set);
      // Without kid (an issuer that writes none): the previous public key, which signed it.
      expect(keys.verificationKeyFor(undefined, token)).toBe(previousKey);
      const current = jwt.sign({ sub: 'u' }, now.privateKey, { algorithm: 'RS256' });
      expect(keys.verificationKeyFor(undefined, current)).toBe(keys.verificationKey);
      const stranger = jwt.sign({ sub: 'u' }, rsa().privateKey, { algorithm: 'RS256' });
      expect(keys.verificationKeyFor(undefined, stranger)).toBe(keys.verificationKey);
      expect(() => hs256({ JWT_PREVIOUS_PUBLIC_KEY_FILE: join(dir, 'before.pub.pem') })).toThrow(
        /JWT_PREVIOUS_PUBLIC_KEY_FILE: applies to JWT_ALGORITHM=RS256 only/,
      );
      expect(() =>
        loadJwtKeys(
          validateEnv({
            DATA_DIR: dir,
            JWT_ALGORITHM: 'RS256',
            JWT_PRIVATE_KEY_FILE: join(dir, 'now.pem'),
            JWT_PUBLIC_KEY_FILE: join(dir, 'now.pub.pem'),
            JWT_PREVIOUS_SECRET: previous,
          }),
        ),
      ).toThrow(/JWT_PREVIOUS_SECRET: applies to JWT_ALGORITHM=HS256 only/);
      expect(() => hs256({ JWT_PREVIOUS_SECRET: 'short' })).toThrow(
        /JWT_PREVIOUS_SECRET: must be at least 32 characters/,
      );
      expect(() =>
        rs256(file('c.pem', pem(now.privateKey)), join(dir, 'now.pub.pem'), join(dir, 'gone.pem')),
      ).toThrow(
        /^JWT_PREVIOUS_PUBLIC_KEY_FILE \(.*gone\.pem\) is not a readable PEM public key: ENOENT$/,
      );
    });
  });
});
