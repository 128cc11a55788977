import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { untilExpiry } from '../../common/http/until-expiry';
import { DeliveryRepository } from './delivery.repository';

/** A stand-alone upload's file under /media: `uploads/<image id>/<variant>.<ext>`. */
const UPLOAD_KEY =
  /^uploads\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/[^/]+$/;

/** The answers of /media that caches keep (a file, a range of it, or the copy confirmed). */
const CACHED_STATUSES = new Set([200, 206, 304]);

/**
 * How long an expiry read is trusted: attaching clears it (the files keep their keys), after which
 * this instance bounds their caching for at most this long more. No expiry is never given one
 * later (it is set at upload only): that is kept until the memory is full.
 */
const EXPIRY_KEPT_MS = 60_000;
const EXPIRIES_KEPT_MAX = 10_000;

/** How long a file is cached when its expiry cannot be read (the database away). */
const UNKNOWN_EXPIRY_MS = 60_000;

/**
 * /media's caching of a stand-alone upload that expires (`expires_in`): the files are served from
 * storage like any other (storage/, which knows no images), with a year, immutable; but past
 * `expires_at` the image is let go and the sweep deletes them, and a cache keeping them a year
 * would serve them on. This onSend hook bounds `Cache-Control` on 200, 206 and 304 (GET and
 * HEAD) of `uploads/<image id>/…` keys to the seconds left, as the transform route does.
 */
@Injectable()
export class MediaExpiryHooks implements OnModuleInit {
  /**
   * Expiries read lately, by image id, each with the time until which it is trusted. Once full,
   * the least recently used goes, not all at once (each then read again from the database).
   */
  private readonly expiries = new LRUCache<string, { expiresAt: Date | null; until: number }>({
    max: EXPIRIES_KEPT_MAX,
  });

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly repository: DeliveryRepository,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return; // A module without HTTP (a test's).
    // Callback style, not async: every answer of every route passes here, and all but a few
    // /media ones go on at once, without a promise each.
    fastify.addHook('onSend', (request, reply, payload, done) => {
      const imageId = expiringCandidate(request, reply);
      if (imageId === undefined) return done(null, payload);
      void this.bound(reply, imageId)
        .catch(() => undefined)
        .then(() => done(null, payload));
    });
  }

  /** The answer's Cache-Control bounded by the image's expiry. */
  private async bound(reply: FastifyReply, imageId: string): Promise<void> {
    const policy = String(reply.getHeader('Cache-Control') ?? '');
    const expiresAt = await this.expiryOf(imageId).catch(() => 'unknown' as const);
    // Unread (the database away): as though it expired within a minute, so asked again soon.
    // No row (swept past its expiry, or deleted, its files' deletion queued, which a storage
    // failure puts off): as though expired now, not kept a year by a cache meanwhile.
    const until =
      expiresAt === 'unknown'
        ? new Date(Date.now() + UNKNOWN_EXPIRY_MS)
        : expiresAt === undefined
          ? new Date(0)
          : expiresAt;
    const bounded = untilExpiry(policy, until);
    if (bounded !== policy) void reply.header('Cache-Control', bounded);
  }

  /** The image's expiry (null for none, undefined for no row: not kept, asked again). */
  private async expiryOf(imageId: string): Promise<Date | null | undefined> {
    const now = performance.now();
    const known = this.expiries.get(imageId);
    if (known && known.until > now) return known.expiresAt;
    const expiresAt = await this.repository.findExpiry(imageId);
    if (expiresAt === undefined) return undefined;
    const kept = expiresAt === null ? Number.POSITIVE_INFINITY : now + EXPIRY_KEPT_MS;
    this.expiries.set(imageId, { expiresAt, until: kept });
    return expiresAt;
  }
}

/** The image id of a /media answer that caches keep, of a stand-alone upload's file. */
function expiringCandidate(request: FastifyRequest, reply: FastifyReply): string | undefined {
  if (request.routeOptions.url !== '/media/*' || !CACHED_STATUSES.has(reply.statusCode)) {
    return undefined;
  }
  const key = (request.params as Record<string, string | undefined>)['*'] ?? '';
  return UPLOAD_KEY.exec(key)?.[1];
}
