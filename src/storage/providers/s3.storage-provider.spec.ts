import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../../common/errors/app.error';
import { StorageError } from '../storage-provider';
import { S3StorageProvider } from './s3.storage-provider';

/**
 * A healthy but slow S3 (each object HEAD answered 404 after 200 ms) and a burst larger than the
 * client's pool of 50 sockets: the burst is the service's own load, so no call may fail as the storage down.
 */
describe('S3StorageProvider under a burst larger than its pool', () => {
  let server: Server;
  let endpoint: string;
  const calls = { headObject: 0, headBucket: 0 };

  beforeAll(async () => {
    server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://s3').pathname;
      if (path === '/bucket' || path === '/bucket/') {
        calls.headBucket++;
        setTimeout(() => response.writeHead(200).end(), 200);
        return;
      }
      calls.headObject++;
      setTimeout(() => response.writeHead(404).end(), 200);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers a miss as a miss or busy (503), never a storage failure, and asks the bucket once', async () => {
    const provider = new S3StorageProvider({
      bucket: 'bucket',
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
      keyPrefix: '',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      presignTtlSeconds: 3600,
      timeoutMs: 1000,
    });
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) => provider.exists(`derived/${i}.webp`)),
      );
      const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
      expect(failures.filter((e) => e instanceof StorageError)).toEqual([]);
      for (const error of failures) {
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({ code: 'server_busy', headers: { 'Retry-After': '5' } });
      }
      const misses = outcomes.filter((o) => o.status === 'fulfilled' && o.value === false);
      expect(misses.length).toBeGreaterThanOrEqual(50);
      expect(calls.headBucket).toBeLessThanOrEqual(2);
    } finally {
      provider.close();
    }
  });
});
