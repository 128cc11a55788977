import type { HttpAdapterHost } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DeliveryRepository } from './delivery.repository';
import { MediaExpiryHooks } from './media-expiry.hooks';

const IMAGE_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const A_YEAR = 'public, max-age=31536000, immutable';

type OnSend = (
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (error: Error | null, payload: unknown) => void,
) => void;

/**
 * The onSend hook of one MediaExpiryHooks whose repository answers `findExpiry`: it gives the
 * Cache-Control /media's answer of a key leaves with.
 */
function mediaHook(findExpiry: (imageId: string) => Promise<Date | null | undefined>) {
  let onSend: OnSend | undefined;
  const fastify = { addHook: (_name: string, hook: OnSend) => (onSend = hook) };
  const adapterHost = { httpAdapter: { getInstance: () => fastify } } as unknown as HttpAdapterHost;
  const repository = { findExpiry } as unknown as DeliveryRepository;
  new MediaExpiryHooks(adapterHost, repository).onModuleInit();
  return async (key: string) => {
    const headers: Record<string, string> = { 'Cache-Control': A_YEAR };
    const reply = {
      statusCode: 200,
      getHeader: (name: string) => headers[name],
      header: (name: string, value: string) => (headers[name] = value),
    } as unknown as FastifyReply;
    const request = { routeOptions: { url: '/media/*' }, params: { '*': key } } as FastifyRequest;
    const sent = await new Promise((resolve, reject) =>
      onSend!(request, reply, 'file', (error, payload) =>
        error ? reject(error) : resolve(payload),
      ),
    );
    expect(sent).toBe('file');
    return headers['Cache-Control'];
  };
}

/** The Cache-Control /media's answer of `key` leaves with, the image's expiry read as `expiry`. */
const cacheControlOf = (expiry: Date | null | undefined, key = `uploads/${IMAGE_ID}/o.png`) =>
  mediaHook(() => Promise.resolve(expiry))(key);

/** The key of a file of the `n`th stand-alone upload. */
const uploadKey = (n: number) =>
  `uploads/${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000/o.png`;

describe(MediaExpiryHooks.name, () => {
  it('bounds the caching of an expiring upload to the seconds left', async () => {
    expect(await cacheControlOf(new Date(Date.now() + 90_500))).toBe('public, max-age=90');
    expect(await cacheControlOf(null)).toBe(A_YEAR);
    // Any other file goes on as it was, at once.
    expect(await cacheControlOf(new Date(Date.now() + 90_500), 'products/p/o.png')).toBe(A_YEAR);
  });

  it('has caches keep no file of an image whose row is gone (swept, its files not yet deleted)', async () => {
    // Past its expiry, the sweep deletes the row and queues the files' deletion, which a storage
    // failure puts off (retried with back-off): served meanwhile, a year immutable, a CDN kept
    // the let-go image on for that year.
    expect(await cacheControlOf(undefined)).toBe('public, max-age=0');
  });

  it('keeps the expiries in use as others pass through: the least recently used goes, not all', async () => {
    const reads = new Map<string, number>();
    const send = mediaHook((imageId) => {
      reads.set(imageId, (reads.get(imageId) ?? 0) + 1);
      return Promise.resolve(null);
    });
    const readsOf = (n: number) => reads.get(uploadKey(n).split('/')[1]) ?? 0;
    // One upload asked for all along, among as many others as the hook keeps expiries of.
    await send(uploadKey(0));
    for (let n = 1; n <= 10_000; n++) {
      await send(uploadKey(n));
      if (n % 1_000 === 0) await send(uploadKey(0));
    }
    expect(readsOf(0)).toBe(1);
    // Still bounded: the one asked for longest ago was let go, and is read again.
    await send(uploadKey(1));
    expect(readsOf(1)).toBe(2);
  });
});
