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

/** The Cache-Control /media's answer of `key` leaves with, the image's expiry read as `expiry`. */
async function cacheControlOf(expiry: Date | null | undefined, key = `uploads/${IMAGE_ID}/o.png`) {
  let onSend: OnSend | undefined;
  const fastify = { addHook: (_name: string, hook: OnSend) => (onSend = hook) };
  const adapterHost = { httpAdapter: { getInstance: () => fastify } } as unknown as HttpAdapterHost;
  const repository = { findExpiry: () => Promise.resolve(expiry) } as unknown as DeliveryRepository;
  new MediaExpiryHooks(adapterHost, repository).onModuleInit();
  const headers: Record<string, string> = { 'Cache-Control': A_YEAR };
  const reply = {
    statusCode: 200,
    getHeader: (name: string) => headers[name],
    header: (name: string, value: string) => (headers[name] = value),
  } as unknown as FastifyReply;
  const request = { routeOptions: { url: '/media/*' }, params: { '*': key } } as FastifyRequest;
  const sent = await new Promise((resolve, reject) =>
    onSend!(request, reply, 'file', (error, payload) => (error ? reject(error) : resolve(payload))),
  );
  expect(sent).toBe('file');
  return headers['Cache-Control'];
}

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
});
