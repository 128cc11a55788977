import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateEnv } from '../../src/config/env.validation';
import { createStorageProvider } from '../../src/storage/storage.module';
import { StorageError, type StorageProvider } from '../../src/storage/storage-provider';

/**
 * An S3-compatible server's listing page that says it is cut (IsTruncated) but names no key, and
 * no NextMarker, to go on after: the listing cannot go on. It ended there, as if whole, so the
 * orphan sweep judged a part of the bucket as all of it. (A server of our own: s3rver never
 * answers so.)
 */
describe('S3 listing of a page cut without a key to go on after', () => {
  let server: Server;
  let storage: StorageProvider;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?>' +
          '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
          '<Name>images</Name><Prefix>products/</Prefix><Marker></Marker>' +
          '<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated></ListBucketResult>',
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    storage = await createStorageProvider(
      validateEnv({
        STORAGE_DRIVER: 's3',
        S3_BUCKET: 'images',
        S3_REGION: 'us-east-1',
        S3_ENDPOINT: `http://127.0.0.1:${port}`,
        S3_FORCE_PATH_STYLE: 'true',
        S3_ACCESS_KEY_ID: 'listing-test-key',
        S3_SECRET_ACCESS_KEY: 'listing-test-secret',
      }),
    );
  });

  afterAll(async () => {
    storage?.close?.();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('fails the listing (StorageError) rather than end it as if whole', async () => {
    const listed = async () => {
      const keys: string[] = [];
      for await (const object of storage.list('products/')) keys.push(object.key);
      return keys;
    };
    await expect(listed()).rejects.toBeInstanceOf(StorageError);
  });
});
