import { S3StorageProvider } from '../../src/storage/providers/s3.storage-provider';

/**
 * The S3 provider on a test endpoint of 127.0.0.1 (a local server playing S3), bucket `bucket`,
 * path-style, 1 s requests unless `extra` says otherwise.
 */
export function s3ProviderAt(
  endpoint: string,
  extra: Partial<ConstructorParameters<typeof S3StorageProvider>[0]> = {},
): S3StorageProvider {
  return new S3StorageProvider({
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
    ...extra,
  });
}
