import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import S3rver from 's3rver';
import { cloudinaryAsset } from '../../src/storage/providers/cloudinary-asset';
import { filesBelow } from './accounts';
import { startFakeCloudinary, type FakeCloudinary } from './fake-cloudinary';

export type Driver = 'local' | 's3' | 'cloudinary';

/** The PUBLIC_BASE_URL storage tests give the app: local URLs are answered by its /media route. */
export const PUBLIC_BASE = 'http://media.test';

export interface Delivered {
  status: number;
  body: Buffer;
  headers: Record<string, string | undefined>;
}

/**
 * What a client gets from a URL the service handed out: local ones through the app's own
 * /media route (no listening socket needed), the others from s3rver or the Cloudinary fake.
 */
export async function fetchDelivered(app: NestFastifyApplication, url: string): Promise<Delivered> {
  if (url.startsWith(PUBLIC_BASE)) {
    const res = await app.inject({ method: 'GET', url: url.slice(PUBLIC_BASE.length) });
    return {
      status: res.statusCode,
      body: res.rawPayload,
      headers: res.headers as Record<string, string | undefined>,
    };
  }
  const res = await fetch(url);
  return {
    status: res.status,
    body: Buffer.from(await res.arrayBuffer()),
    headers: Object.fromEntries(res.headers),
  };
}
export const DRIVERS: Driver[] = ['local', 's3', 'cloudinary'];

/** s3rver's fixed account: any other key or secret is refused (InvalidAccessKeyId / signature). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const CLOUDINARY_ACCOUNT = {
  cloudName: 'demo-cloud',
  apiKey: '123456789012345',
  apiSecret: 'fake-cloudinary-secret-for-tests',
};
const BUCKET = 'product-images';

/** A real storage backend for one test file: a directory, s3rver, or the Cloudinary fake. */
export interface StorageBackend {
  driver: Driver;
  /** The settings that point the service at this backend. */
  env: Record<string, string>;
  /** What the backend holds: object keys (local, S3) or public ids (Cloudinary). */
  stored(): string[];
  /** Makes the object of a key look last written at `when` (to the storage's own listing). */
  backdate(key: string, when: Date): void;
  /** Present for s3: a proxy in front of s3rver that can refuse requests. */
  faults?: FaultyProxy;
  /** s3 only: deletes the bucket and all it holds, as an operator's mistake would. */
  deleteBucket?: () => void;
  cloudinary?: FakeCloudinary;
  close(): Promise<void>;
}

export async function startStorageBackend(driver: Driver): Promise<StorageBackend> {
  const dir = mkdtempSync(join(tmpdir(), `pis-${driver}-`));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  switch (driver) {
    case 'local':
      return {
        driver,
        env: { STORAGE_DRIVER: 'local', STORAGE_LOCAL_DIR: dir },
        stored: () =>
          filesBelow(dir)
            .map((f) => relative(dir, f).split(sep).join('/'))
            .filter((key) => !key.startsWith('.tmp/'))
            .sort(),
        backdate: (key, when) => utimesSync(join(dir, key), when, when),
        close: () => Promise.resolve(removeDir()),
      };
    case 's3': {
      const s3 = await startS3rver(dir, [BUCKET]);
      const faults = await startFaultyProxy(s3.port);
      return {
        driver,
        env: {
          STORAGE_DRIVER: 's3',
          S3_BUCKET: BUCKET,
          S3_REGION: 'us-east-1',
          S3_ENDPOINT: faults.url,
          S3_FORCE_PATH_STYLE: 'true',
          S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
          S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
          S3_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
          S3_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        },
        stored: () => s3rverKeys(join(dir, BUCKET)),
        // s3rver answers an object's LastModified from its file's mtime.
        backdate: (key, when) => utimesSync(join(dir, BUCKET, `${key}._S3rver_object`), when, when),
        faults,
        // s3rver keeps a bucket as a folder: without it, the bucket is gone (NoSuchBucket).
        deleteBucket: () => rmSync(join(dir, BUCKET), { recursive: true, force: true }),
        close: async () => {
          await faults.close();
          await s3.close();
          removeDir();
        },
      };
    }
    case 'cloudinary': {
      const fake = await startFakeCloudinary(CLOUDINARY_ACCOUNT);
      removeDir();
      return {
        driver,
        env: { STORAGE_DRIVER: 'cloudinary', CLOUDINARY_URL: fake.cloudinaryUrl() },
        stored: () => [...fake.assets.keys()].sort(),
        backdate: (key, when) => {
          // The service's default CLOUDINARY_FOLDER, which the tests keep.
          const asset = fake.assets.get(cloudinaryAsset(key, 'products/').fullId);
          if (!asset) throw new Error(`no asset for ${key}`);
          // The fake's created_at is its version's time, as Cloudinary's versions are.
          asset.version = Math.floor(when.getTime() / 1000);
        },
        cloudinary: fake,
        close: () => fake.close(),
      };
    }
  }
}

export interface RunningS3rver {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** s3rver on a free loopback port, storing below `directory`, with the given buckets. */
export async function startS3rver(directory: string, buckets: string[]): Promise<RunningS3rver> {
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    port: address.port,
    close: () => server.close(),
  };
}

/** Object keys s3rver holds in a bucket directory (it stores `<key>._S3rver_object`). */
function s3rverKeys(bucketDir: string): string[] {
  const suffix = '._S3rver_object';
  return filesBelow(bucketDir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => relative(bucketDir, f.slice(0, -suffix.length)).split(sep).join('/'))
    .sort();
}

/**
 * An HTTP proxy in front of a real server that can answer chosen requests itself, as a failing
 * S3 would (503 SlowDown), or drop them: storage failures on demand, with the real server behind.
 */
export interface FaultyProxy {
  url: string;
  /** Requests whose method is listed get 503 after the first `allow` of them have passed. */
  failAfter(methods: string[], allow: number): void;
  /** Requests are accepted and never answered. */
  hang(on: boolean): void;
  heal(): void;
  /** Methods and paths that reached the proxy. */
  requests: { method: string; path: string; failed: boolean }[];
  close(): Promise<void>;
}

export async function startFaultyProxy(targetPort: number): Promise<FaultyProxy> {
  let rule: { methods: string[]; allow: number } | undefined;
  let hanging = false;
  const held = new Set<http.ServerResponse>();
  const requests: FaultyProxy['requests'] = [];
  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    if (hanging) {
      held.add(res);
      req.resume();
      return;
    }
    let fail = false;
    if (rule && rule.methods.includes(method)) {
      if (rule.allow > 0) rule.allow -= 1;
      else fail = true;
    }
    requests.push({ method, path: req.url ?? '', failed: fail });
    if (fail) {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>' +
          '<Message>Please reduce your request rate.</Message></Error>',
      );
      return;
    }
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: targetPort,
        method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    failAfter: (methods, allow) => (rule = { methods, allow }),
    hang: (on) => {
      hanging = on;
      if (!on) for (const res of held) res.destroy();
      if (!on) held.clear();
    },
    heal: () => {
      rule = undefined;
      hanging = false;
      for (const res of held) res.destroy();
      held.clear();
    },
    requests,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
