import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { RecordedResponse } from '../idempotency/idempotency-keys.repository';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { STORAGE_PROVIDER, type StorageProvider } from '../storage/storage-provider';

/**
 * The storage URLs of an answer replayed for an Idempotency-Key, made again for now where they
 * expire (S3 without S3_PUBLIC_BASE_URL: presigned for S3_PRESIGN_TTL_SECONDS, while the key lives
 * IDEMPOTENCY_KEY_TTL_HOURS): a client retrying an upload hours later is handed links that work,
 * as a read of the image would give it. The rest of the answer is replayed byte for byte.
 */
@Injectable()
export class ReplayedUrlsService implements OnModuleInit {
  constructor(
    private readonly idempotency: IdempotencyService,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
  ) {}

  onModuleInit(): void {
    const reissue = this.storage.reissueUrl?.bind(this.storage);
    if (reissue)
      this.idempotency.refreshReplaysWith((response) => withUrlsReissued(response, reissue));
  }
}

/**
 * The answer with every string of its JSON body that `reissue` takes for one of its URLs replaced
 * by the URL it gives, in place in the recorded text (the rest of its bytes as they were).
 */
export async function withUrlsReissued(
  response: RecordedResponse,
  reissue: (url: string) => Promise<string | undefined>,
): Promise<RecordedResponse> {
  if (!/[/+]json\b/.test(response.headers['content-type'] ?? '')) return response;
  const urls = new Set<string>();
  collectUrls(JSON.parse(response.body) as unknown, urls);
  let body = response.body;
  for (const url of urls) {
    const fresh = await reissue(url);
    if (fresh !== undefined && fresh !== url) {
      body = body.split(JSON.stringify(url)).join(JSON.stringify(fresh));
    }
  }
  return body === response.body ? response : { ...response, body };
}

function collectUrls(value: unknown, urls: Set<string>): void {
  if (typeof value === 'string') {
    if (value.startsWith('http')) urls.add(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectUrls(item, urls);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) collectUrls(item, urls);
  }
}
