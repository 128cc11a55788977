import { extname } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { abortReason } from '../../common/concurrency/abort-reason';
import { TimeoutError } from '../../common/concurrency/with-timeout';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ifRangeHolds, usableByteRange } from '../byte-ranges';
import { parseHttpDate, parseModifiedSince } from '../http-date';
import { noneMatchHolds } from '../../common/http/entity-tags';
import { preconditionFails, type CurrentValidators } from '../preconditions';
import type { MediaAnswer, MediaRequest } from '../media-answer';
import { mediaHeaders } from '../media-delivery';
import {
  CONTENT_TYPES,
  StorageError,
  type CallOptions,
  type ListedObject,
  type ListOptions,
  type ObjectStream,
  type PutOptions,
  type StorageProvider,
  type StoredObject,
} from '../storage-provider';
import { AppError } from '../../common/errors/app.error';
import { BucketSightings, CallTurns, type TakeOptions } from './s3-calls';

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** MinIO and other S3-compatible stores; AWS when absent. */
  endpoint?: string;
  forcePathStyle: boolean;
  /** Absent: the AWS SDK's default credential chain (environment, profile, instance role, …). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  keyPrefix: string;
  requestChecksumCalculation: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  responseChecksumValidation: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** Public base of object URLs (CDN or bucket URL); absent: presigned GET URLs. */
  publicBaseUrl?: string;
  presignTtlSeconds: number;
  timeoutMs: number;
  /** Calls at once on the client for everything but `serve` (CallTurns; default 50, the SDK's pool). */
  maxSockets?: number;
}

/** Multipart part size: memory per upload is bounded by PART_SIZE × QUEUE_SIZE, whatever the file. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

/** Connections for objects served to clients, apart from the rest (S3StorageProvider.delivery). */
const DELIVERY_SOCKETS = 256;
/** Calls at once for the rest (writes, deletes, reads of originals and results): the SDK's pool. */
const SOCKETS = 50;
/** How long a call that succeeded vouches for the bucket (BucketSightings). */
const BUCKET_TRUST_MS = 10_000;

/** One strong entity tag (`"abc"`), alone: what S3 compares as RFC 9110 does. */
const ONE_STRONG_TAG = /^"[^",]*"$/;

/**
 * Objects in an S3 bucket (AWS, MinIO, or any S3-compatible store). Streams are uploaded in parts
 * (lib-storage), never buffered whole; a failed multipart upload is aborted, so no part is left.
 * The only file that imports the AWS SDK.
 */
export class S3StorageProvider implements StorageProvider {
  readonly driver = 's3';
  private readonly client: S3Client;
  /**
   * Objects served to clients (`serve`), on a pool of their own: a client reads their bytes at
   * its own pace, holding a pooled connection meanwhile (a stalled reader until
   * HTTP_SEND_TIMEOUT_MS cuts it), so readers never starve the writes, deletes and the readiness
   * check on `client` (50 clients that stopped reading once made uploads 502 and readiness 503).
   */
  private readonly delivery: S3Client;
  /** Turns for `client`'s sockets (CallTurns): queued here, not in the SDK's agent. */
  private readonly turns: CallTurns;
  private readonly bucket = new BucketSightings(BUCKET_TRUST_MS);
  private readonly logger = new Logger('S3Storage');
  /** The HeadBucket under way for a HEAD's 404 (noSuchObject), if any. */
  private bucketAsked?: Promise<boolean>;

  /** The bucket's presigned URLs without their object key (up to its `/`), once known. */
  private presignedBase?: Promise<string>;

  constructor(private readonly options: S3StorageOptions) {
    const sockets = options.maxSockets ?? SOCKETS;
    // Bounded by the turns, not the agent: a body still being read (a result served to a slow
    // client) holds its socket after its call's turn is given back, and a call given its turn
    // must not then queue in the agent, where the SDK's connectionTimeout would run again.
    this.client = this.makeClient({ maxSockets: Infinity });
    // As long as the SDK's connectionTimeout once allowed for a socket, now queued here.
    this.turns = new CallTurns(sockets, Math.min(5000, options.timeoutMs));
    this.delivery = this.makeClient({ maxSockets: DELIVERY_SOCKETS });
  }

  /** An S3 client; `agent`: its connection pool's options. */
  private makeClient(agent: { maxSockets: number }): S3Client {
    const options = this.options;
    return new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      requestChecksumCalculation: options.requestChecksumCalculation,
      responseChecksumValidation: options.responseChecksumValidation,
      maxAttempts: 3,
      requestHandler: {
        connectionTimeout: Math.min(5000, options.timeoutMs),
        requestTimeout: options.timeoutMs,
        // Otherwise a request past its timeout only logs a warning and waits on.
        throwOnRequestTimeout: true,
        httpAgent: agent,
        httpsAgent: agent,
      },
    });
  }

  /**
   * An object of one part (up to PART_SIZE: nearly every image) is sent with PutObject, whose
   * request, and every retry of it, stops at the abort: lib-storage's Upload sends such an object
   * without the signal, so a write told it failed went on, and its retry could land after the
   * clean-up deleted the key, leaving an object no row names. Larger ones go in parts (Upload),
   * whose abort aborts the multipart upload.
   */
  async put(key: string, body: Readable | Buffer, options: PutOptions): Promise<StoredObject> {
    const params = {
      Bucket: this.options.bucket,
      Key: this.objectKey(key),
      ContentType: options.contentType,
      CacheControl: options.cacheControl,
      ContentDisposition: options.contentDisposition,
    };
    // Aborted while the body is read (a stalled source): the read stops too.
    const stop = () => {
      if (!Buffer.isBuffer(body))
        body.destroy(abortReason(options.signal, 'The write was aborted'));
    };
    options.signal?.addEventListener('abort', stop, { once: true });
    try {
      if (options.signal?.aborted) stop();
      const head = await firstPart(body, PART_SIZE);
      if (head.whole) {
        await this.call(
          (client) =>
            client.send(new PutObjectCommand({ ...params, Body: head.bytes }), {
              abortSignal: options.signal,
            }),
          options.signal,
        );
        return { key, size: head.bytes.length };
      }
      return { key, size: await this.putInParts(params, head.rest, options.signal) };
    } catch (error) {
      throw this.failure(`writing ${key}`, error);
    } finally {
      options.signal?.removeEventListener('abort', stop);
    }
  }

  /**
   * A multipart upload of `body`; its size. At `signal`'s abort (its deadline passed) its
   * requests end and so does the reading of its body: lib-storage then aborts the multipart
   * upload (its parts removed) before `done` rejects, so the write answers once that is done.
   * (`Upload.abort` would make `done` reject at once, its part requests left to run on and the
   * multipart upload aborted after.)
   */
  private async putInParts(
    params: { Bucket: string; Key: string },
    body: Readable,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    let size = 0;
    const counter = new PassThrough();
    counter.on('data', (chunk: Buffer) => (size += chunk.length));
    // Its failure is the upload's, which reads it: not an unhandled 'error'.
    counter.on('error', () => undefined);
    body.on('error', (error) => counter.destroy(error));
    const upload = new Upload({
      client: this.inTurns(signal),
      params: { ...params, Body: body.pipe(counter) },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    const stop = () => counter.destroy(abortReason(signal, 'The write was aborted'));
    signal?.addEventListener('abort', stop, { once: true });
    try {
      if (signal?.aborted) stop();
      await upload.done();
      return size;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  /**
   * `client` as an Upload's (lib-storage) to send with: each of its requests in a turn, as every
   * call (`call`), and ended by `signal`. An upload sends CreateMultipartUpload, then up to
   * QUEUE_SIZE parts at once, then CompleteMultipartUpload, on `client`, whose agent has no bound
   * of its own (the turns are the bound): uploads took no turn, so a burst of them opened
   * connections past the 50 (and uncounted in the turns), and its parts ran on after the abort.
   * A turn a request, not one for the whole upload: a turn is held only while a request is sent,
   * not while the next part is read from the source (a client's upload, at its pace), and an
   * upload waits for one turn at a time, never holding one while it waits for another, so uploads
   * cannot stall each other on the turns. Once CreateMultipartUpload has succeeded, the upload's
   * requests wait for their turns until `signal` (the write's deadline), never refused as busy
   * after the wait of a call (CallTurns, `patient`): a part refused threw away the parts sent
   * before it, and the whole body with them, for the client to send again. The
   * AbortMultipartUpload that lib-storage sends once the upload failed is its clean-up
   * (`abortUpload`).
   */
  private inTurns(signal: AbortSignal | undefined): S3Client {
    let created = false;
    const send = async (command: Parameters<S3Client['send']>[0]) => {
      if (command instanceof AbortMultipartUploadCommand) return this.abortUpload(command);
      const answer = await this.call(
        (client) => client.send(command, { abortSignal: signal }),
        signal,
        { patient: created },
      );
      if (command instanceof CreateMultipartUploadCommand) created = true;
      return answer;
    };
    return new Proxy(this.client, {
      get: (target, property) =>
        property === 'send' ? send : (Reflect.get(target, property, target) as unknown),
    });
  }

  /**
   * lib-storage's AbortMultipartUpload, once an upload failed: its parts removed. Its turn is the
   * first given back (CallTurns, `first`; the clean-ups waiting served in the order they came, the
   * nearest its deadline first), never refused as busy: the load that failed the upload
   * (its parts refused `server_busy`) would also have refused its clean-up, leaving the parts
   * behind. Not ended by the write's signal (often why it is sent), but at STORAGE_TIMEOUT_MS of
   * its own, its wait for its turn included: counted from its turn, a clean-up queued behind
   * others that S3 left unanswered waited for them without a limit, and its write with it. Its
   * failure is logged, not thrown: lib-storage then rethrows the upload's own failure, where the
   * abort's replaced it (a bucket policy without s3:AbortMultipartUpload made every failed upload
   * a 403).
   */
  private async abortUpload(command: AbortMultipartUploadCommand): Promise<object> {
    try {
      return await timed(this.options.timeoutMs, (abortSignal) =>
        this.call((client) => client.send(command, { abortSignal }), abortSignal, {
          first: true,
        }),
      );
    } catch (error) {
      const key = (command.input.Key ?? '').slice(this.options.keyPrefix.length);
      const failure = this.failure(`aborting the multipart upload of ${key}`, error);
      this.logger.warn(`${failure.message}: its parts stay until the bucket's lifecycle rule`);
      return {};
    }
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    const { signal } = options;
    try {
      await this.call(
        (client) =>
          client.send(
            new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
            { abortSignal: signal },
          ),
        signal,
      );
    } catch (error) {
      throw this.failure(`deleting ${key}`, error);
    }
  }

  async exists(key: string, options: CallOptions = {}): Promise<boolean> {
    const { signal } = options;
    try {
      await this.call(
        (client) =>
          client.send(
            new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
            { abortSignal: signal },
          ),
        signal,
      );
      return true;
    } catch (error) {
      if (await this.noSuchObject(error, `checking ${key}`)) return false;
      throw this.failure(`checking ${key}`, error);
    }
  }

  /**
   * The objects under S3_KEY_PREFIX + `prefix`, up to 1000 a request. ListObjects (version 1),
   * each page starting after the last key of the one before: every S3-compatible store has it,
   * and it needs no continuation token (s3rver, the tests' S3, makes those with DES, which Node's
   * OpenSSL 3 refuses).
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListedObject> {
    const { signal } = options;
    let marker: string | undefined;
    do {
      let page;
      options.onPage?.();
      try {
        // Each page in its turn, and ended by `signal` (a page past its deadline), as every call.
        page = await this.call(
          (client) =>
            client.send(
              new ListObjectsCommand({
                Bucket: this.options.bucket,
                Prefix: this.objectKey(prefix),
                MaxKeys: options.pageSize,
                Marker: marker,
              }),
              { abortSignal: signal },
            ),
          signal,
        );
      } catch (error) {
        throw this.failure(`listing ${prefix}`, error);
      }
      const objects = page.Contents ?? [];
      for (const object of objects) {
        if (!object.Key || !object.LastModified) continue;
        yield {
          key: object.Key.slice(this.options.keyPrefix.length),
          lastModified: object.LastModified,
        };
      }
      marker = page.IsTruncated ? (page.NextMarker ?? objects.at(-1)?.Key) : undefined;
      // A page said to be cut that names no key to go on after: the listing cannot go on, and
      // ending it here would pass for a whole one (the orphan sweep judging a part as all).
      if (page.IsTruncated && !marker) {
        throw this.failure(`listing ${prefix}`, new Error('a truncated page named no next key'));
      }
    } while (marker);
  }

  async url(key: string): Promise<string> {
    const objectKey = this.objectKey(key);
    if (this.options.publicBaseUrl) return `${this.options.publicBaseUrl}/${objectKey}`;
    return this.presigned(objectKey);
  }

  /**
   * A presigned URL of this bucket (one `url` handed out, maybe long expired), signed again for
   * now; undefined for any other string, and where URLs are public. The object key is read from
   * the URL's path below the bucket's own URL, and the new URL must have that very path: a key the
   * reading got wrong gives undefined, never a link to another object.
   */
  async reissueUrl(url: string): Promise<string | undefined> {
    if (this.options.publicBaseUrl) return undefined;
    const [path, query = ''] = url.split('?', 2);
    if (!/(?:^|&)X-Amz-Signature=/.test(query)) return undefined;
    this.presignedBase ??= this.presigned('k').then((probe) => probe.split('?')[0].slice(0, -1));
    const base = await this.presignedBase;
    if (!path.startsWith(base)) return undefined;
    let objectKey: string;
    try {
      objectKey = path.slice(base.length).split('/').map(decodeURIComponent).join('/');
    } catch {
      return undefined;
    }
    if (!objectKey.startsWith(this.options.keyPrefix)) return undefined;
    const fresh = await this.presigned(objectKey);
    return fresh.split('?')[0] === path ? fresh : undefined;
  }

  /**
   * A presigned GET of the object, signed at the start of half-TTL windows: the same URL for a
   * while (browser and CDN caches hit), and every URL handed out stays valid for at least half the
   * TTL.
   */
  private presigned(objectKey: string): Promise<string> {
    const ttl = this.options.presignTtlSeconds;
    const windowMs = (ttl * 1000) / 2;
    const signingDate = new Date(Math.floor(Date.now() / windowMs) * windowMs);
    return getSignedUrl(
      this.client,
      new GetObjectCommand({ Bucket: this.options.bucket, Key: objectKey }),
      { expiresIn: ttl, signingDate },
    );
  }

  /** The object's bytes, streamed, and its validators; undefined when there is no such object. */
  async read(key: string, options: CallOptions = {}): Promise<ObjectStream | undefined> {
    const { signal } = options;
    let answer;
    try {
      answer = await this.call(
        (client) =>
          client.send(
            new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
            { abortSignal: signal },
          ),
        signal,
      );
    } catch (error) {
      // Its caller gave up (while S3 had not answered, or the call waited for its turn): why.
      if (signal?.aborted) throw abortReason(signal, 'The read was aborted');
      if (await this.noSuchObject(error, `reading ${key}`)) return undefined;
      throw this.failure(`reading ${key}`, error);
    }
    return {
      stream: failingAs(answer.Body as Readable, (error) => this.failure(`reading ${key}`, error)),
      size: answer.ContentLength ?? 0,
      contentType: answer.ContentType ?? 'application/octet-stream',
      etag: answer.ETag ?? '',
      lastModified: answer.LastModified ?? new Date(0),
    };
  }

  /**
   * The object for a client: GetObject (HeadObject for HEAD) with the client's Range,
   * If-None-Match, If-Match, If-Modified-Since and If-Unmodified-Since, so S3 decides `206`, `304`,
   * `412` and `416` itself, with its own strong ETag (an MD5 of the bytes), but for If-Range and
   * the conditions checkValidators checks first. A multi-range request is answered whole (S3
   * serves one range).
   */
  async serve(key: string, request: MediaRequest, options: CallOptions = {}): Promise<MediaAnswer> {
    const { signal } = options;
    const head = request.method === 'HEAD';
    let answer;
    try {
      const checked = await this.checkValidators(key, request, signal);
      if (checked.failed) return { kind: 'precondition_failed' };
      if (checked.notModified) return notModifiedAnswer(checked.notModified);
      if (checked.unsatisfiable) {
        return { kind: 'range_not_satisfiable', contentRange: checked.unsatisfiable };
      }
      const conditions = {
        Bucket: this.options.bucket,
        Key: this.objectKey(key),
        Range: checked.range,
        IfNoneMatch: checked.ifNoneMatchChecked ? undefined : header(request, 'if-none-match'),
        IfMatch: header(request, 'if-match'),
        // RFC 9110 13.1.3: with If-None-Match, If-Modified-Since is ignored. S3 answers 304 when
        // either holds, so a changed ETag with an unchanged date would get a stale copy. A date
        // later than now is invalid, and ignored too (13.1.3), where S3 (s3rver) answered it 304.
        IfModifiedSince: header(request, 'if-none-match')
          ? undefined
          : asDate(parseModifiedSince(header(request, 'if-modified-since'))),
        IfUnmodifiedSince: asDate(parseHttpDate(header(request, 'if-unmodified-since'))),
      };
      answer = await this.delivery.send(
        head ? new HeadObjectCommand(conditions) : new GetObjectCommand(conditions),
        { abortSignal: signal },
      );
    } catch (error) {
      return this.serveFailure(key, request, error, signal);
    }
    const headers: Record<string, string | number> = {
      'Accept-Ranges': 'bytes',
      'Content-Length': answer.ContentLength ?? 0,
      ETag: answer.ETag ?? '',
      'Last-Modified': (answer.LastModified ?? new Date(0)).toUTCString(),
    };
    if (answer.ContentRange) headers['Content-Range'] = answer.ContentRange;
    const contentType = CONTENT_TYPES[extname(key).slice(1)] ?? 'application/octet-stream';
    return {
      kind: 'file',
      status: answer.ContentRange ? 206 : 200,
      headers: mediaHeaders(headers, contentType, true),
      // HEAD: no bytes, but a body all the same, or Fastify writes Content-Length: 0 over S3's.
      body:
        'Body' in answer
          ? failingAs(answer.Body as Readable, (error) => this.failure(`reading ${key}`, error))
          : Readable.from([]),
    };
  }

  /**
   * The byte range to ask S3 for, or whether a precondition fails or the client's copy is
   * current. S3 has no If-Range, compares one If-None-Match tag literally (a weak one, or a list,
   * never matches there), and not every S3-compatible store evaluates If-Match and
   * If-Unmodified-Since (s3rver does not): a request carrying one of these is checked here
   * against the object's validators (one HeadObject), and its Range dropped unless its If-Range
   * names the object as it is.
   */
  private async checkValidators(
    key: string,
    request: MediaRequest,
    signal: AbortSignal | undefined,
  ): Promise<CheckedValidators> {
    const range = usableByteRange(request.headers.range);
    const ifRange = header(request, 'if-range');
    const ifNoneMatch = header(request, 'if-none-match');
    // One strong tag, S3 compares as RFC 9110 does; anything else is compared here, and so is
    // any tag beside a Range: a current copy is 304 before its Range is looked at (RFC 9110
    // 13.2.2), where S3 answered a range past the end 416.
    const ifNoneMatchChecked =
      ifNoneMatch !== undefined &&
      (range !== undefined || !ONE_STRONG_TAG.test(ifNoneMatch.trim()));
    // A suffix of no bytes (`bytes=-0`) is never satisfiable (RFC 9110 14.1.3); S3 sends it all.
    const emptySuffix = range !== undefined && /^bytes=-0+$/.test(range);
    const conditional =
      ifNoneMatchChecked ||
      emptySuffix ||
      ['if-match', 'if-unmodified-since'].some((name) => header(request, name));
    if (!conditional && (range === undefined || ifRange === undefined)) {
      return { failed: false, range };
    }
    let now;
    try {
      now = await this.delivery.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
        { abortSignal: signal },
      );
    } catch (error) {
      // Gone: the request that follows answers that. Any other failure is the storage's.
      if (await this.noSuchObject(error, `reading ${key}`))
        return { failed: false, range: undefined };
      throw error;
    }
    const current = { etag: now.ETag, lastModified: now.LastModified };
    const failed = preconditionFails(request.headers, current);
    const ranged = ifRange === undefined || ifRangeHolds(ifRange, current) ? range : undefined;
    return {
      failed,
      notModified:
        !failed && ifNoneMatchChecked && noneMatchHolds(ifNoneMatch, current.etag)
          ? current
          : undefined,
      ifNoneMatchChecked,
      range: ranged,
      unsatisfiable:
        emptySuffix && ranged !== undefined ? `bytes */${now.ContentLength ?? '*'}` : undefined,
    };
  }

  private async serveFailure(
    key: string,
    request: MediaRequest,
    error: unknown,
    signal: AbortSignal | undefined,
  ): Promise<MediaAnswer> {
    // Its caller gave up: why, not the storage failing.
    if (signal?.aborted) throw abortReason(signal, 'The read was aborted');
    if (await this.noSuchObject(error, `reading ${key}`)) return { kind: 'not_found' };
    const status = statusOf(error);
    if (status === 412) return { kind: 'precondition_failed' };
    if (status === 304) return this.notModifiedByStore(key, request, error, signal);
    if (status === 416) {
      let size: number | undefined;
      try {
        const head = await this.call(
          (client) =>
            client.send(
              new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
              { abortSignal: signal },
            ),
          signal,
        );
        size = head.ContentLength;
      } catch {
        // The size is only for the answer's Content-Range: `*` says it is unknown.
      }
      return { kind: 'range_not_satisfiable', contentRange: `bytes */${size ?? '*'}` };
    }
    throw this.failure(`reading ${key}`, error);
  }

  /**
   * The 304 S3 answered, with the validators the 200 would carry (RFC 9110 15.4.5): its ETag and
   * Last-Modified. A store that left the ETag out of its 304 (s3rver) matched the one tag the
   * client sent, if it sent one. Where either is still unknown (matched by If-Modified-Since
   * alone, or a store that sends no Last-Modified with its 304, as s3rver), the object is asked
   * for them (a HeadObject); should that fail, the fields it would have given are left out.
   */
  private async notModifiedByStore(
    key: string,
    request: MediaRequest,
    error: unknown,
    signal: AbortSignal | undefined,
  ): Promise<MediaAnswer> {
    const headers = (error as { $response?: { headers?: Record<string, string> } }).$response
      ?.headers;
    const sentTag = headers?.etag ?? header(request, 'if-none-match')?.trim();
    const current: CurrentValidators = {
      etag: sentTag && ONE_STRONG_TAG.test(sentTag) ? sentTag : undefined,
      lastModified: asDate(parseHttpDate(headers?.['last-modified'])),
    };
    if (current.etag && current.lastModified) return notModifiedAnswer(current);
    // On the delivery's connections, as the other HEADs of a serve: not a turn of the writes'.
    const head = await this.delivery
      .send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }), {
        abortSignal: signal,
      })
      .catch(() => {
        if (signal?.aborted) throw abortReason(signal, 'The read was aborted');
        return undefined;
      });
    return notModifiedAnswer({
      etag: current.etag ?? head?.ETag,
      lastModified: current.lastModified ?? head?.LastModified,
    });
  }

  /** The bucket exists and our credentials may use it. Names the problem when not. */
  async check(options: CallOptions = {}): Promise<void> {
    try {
      // Not queued for a turn: readiness says whether S3 answers, busy or not. Aborted past its
      // deadline all the same: a readiness check every few seconds would pile up connections.
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }), {
        abortSignal: options.signal,
      });
      this.bucket.seen();
    } catch (error) {
      const status = statusOf(error);
      const bucket = `S3 bucket "${this.options.bucket}"`;
      if (status === 404) {
        this.bucket.lost();
        throw new StorageError(`${bucket} does not exist`, { cause: error });
      }
      if (status === 400 || status === 401 || status === 403) {
        throw new StorageError(
          `${bucket} refused our credentials (HTTP ${status}): check S3_ACCESS_KEY_ID, ` +
            'S3_SECRET_ACCESS_KEY and the bucket policy',
          { cause: error },
        );
      }
      throw this.failure(`reaching ${bucket}`, error);
    }
  }

  close(): void {
    this.client.destroy();
    this.delivery.destroy();
  }

  /**
   * Whether S3 said there is no such object: a 404, but not the 404 of a bucket that is gone
   * (deleted, or S3_BUCKET naming another after a change), which is the storage failing: taken
   * for a missing object, delivery answered `404 image_not_found` (a 404 CDNs keep) and a
   * rendition rebuild failed each image for good as its original missing. A GET's error names
   * which (`NoSuchKey`, `NoSuchBucket`); a HEAD's 404 has no body to say, so the bucket is asked,
   * unless a call of the last BUCKET_TRUST_MS found it (BucketSightings): one HeadBucket a miss
   * doubled the calls of a burst of new transforms, and under load turned misses into failures.
   * A HeadBucket that gives no answer (timed out, refused) fails `action` saying so: the 404's
   * own failure named a missing object where the storage had not answered.
   */
  private async noSuchObject(error: unknown, action: string): Promise<boolean> {
    if (statusOf(error) !== 404) return false;
    const code = (error as { name?: unknown; Code?: unknown }).Code ?? (error as Error).name;
    if (code === 'NoSuchBucket') {
      this.bucket.lost();
      return false;
    }
    if (code === 'NoSuchKey') {
      this.bucket.seen();
      return true;
    }
    if (this.bucket.recent()) return true;
    this.bucketAsked ??= this.askBucket();
    try {
      return await this.bucketAsked;
    } catch (failure) {
      // Our own pool full is no answer about the bucket: the call is busy, not failed.
      if (isBusy(failure)) throw failure;
      const what =
        failure instanceof TimeoutError ? failure.message : `failed: ${this.detail(failure)}`;
      throw new BucketCheckError(
        `${this.failed(action)}: a 404 that does not say whether the object or the bucket is ` +
          `missing, and the bucket check (HeadBucket) ${what}`,
        { cause: failure },
      );
    }
  }

  /**
   * Whether the bucket exists, one HeadBucket that the misses at once share: false where S3
   * answers it 404; its failure otherwise (no answer). Ended at STORAGE_TIMEOUT_MS of its own,
   * counted from its turn (a wait for one is refused as busy, as any call's): no caller's signal
   * ends it (one caller given up would fail the others' check), and left to the SDK (three
   * attempts) it held its turn, and a connection, after every caller had given up on it, in an
   * outage where S3 stops answering.
   */
  private askBucket(): Promise<boolean> {
    return this.call((client) =>
      timed(this.options.timeoutMs, (abortSignal) =>
        client.send(new HeadBucketCommand({ Bucket: this.options.bucket }), { abortSignal }),
      ),
    )
      .then(
        () => true,
        (error: unknown) => {
          if (isBusy(error)) throw error;
          this.bucket.lost();
          if (statusOf(error) === 404) return false;
          throw error;
        },
      )
      .finally(() => (this.bucketAsked = undefined));
  }

  /**
   * A call on `client` in its turn (CallTurns: `503 server_busy` when it waits too long for
   * one), given back once S3 has answered: held while a body is read, a turn another stream never
   * closed (a reader that drops it) would be lost for good. A call that succeeds vouches for the
   * bucket. `signal` (its caller gave up: its deadline passed) takes it out of the queue, or gives
   * its turn back at once (CallTurns.take), before the SDK has noticed the abort (`send` is given
   * it too): the turns are for calls someone waits for.
   */
  private async call<T extends object>(
    send: (client: S3Client) => Promise<T>,
    signal?: AbortSignal,
    wait?: TakeOptions,
  ): Promise<T> {
    const release = await this.turns.take(signal, wait);
    try {
      const answer = await send(this.client);
      this.bucket.seen();
      return answer;
    } finally {
      release();
    }
  }

  private objectKey(key: string): string {
    return `${this.options.keyPrefix}${key}`;
  }

  /**
   * A StorageError naming the cause; our own pool being full (server_busy), or the failure of a
   * bucket check that already says what failed (noSuchObject's), is passed on as is. Any other
   * StorageError (a StorageTimeoutError: a deadline that ended the wait for a turn) is named with
   * its message, not the SDK's detail.
   */
  private failure(action: string, error: unknown): StorageError | AppError {
    if (isBusy(error) || error instanceof BucketCheckError) return error;
    const what = error instanceof StorageError ? error.message : this.detail(error);
    return new StorageError(`${this.failed(action)}: ${what}`, { cause: error });
  }

  /** `S3 (<endpoint>) failed <action>`, as every failure's message begins. */
  private failed(action: string): string {
    const where = this.options.endpoint
      ? withoutUserInfo(this.options.endpoint)
      : `AWS ${this.options.region}`;
    return `S3 (${where}) failed ${action}`;
  }

  /** What an error of the SDK says: its name, network code and HTTP status. */
  private detail(error: unknown): string {
    const status = statusOf(error);
    const name = error instanceof Error ? error.name : 'Error';
    // A network error's code (ECONNREFUSED, ENOTFOUND…) says why: its own, or the one in its
    // message where the SDK wrapped it (an error from another realm).
    const own = (error as { code?: unknown } | null)?.code;
    const code =
      typeof own === 'string'
        ? own
        : /\b(E[A-Z][A-Z0-9_]{2,})\b/.exec(error instanceof Error ? error.message : '')?.[1];
    const named = code && code !== name ? `${name} (${code})` : name;
    return status ? `${named}, HTTP ${status}` : named;
  }
}

/**
 * A miss's 404 that the bucket check could not settle (noSuchObject): its message already names S3
 * and the action, so failure() passes it on as is.
 */
class BucketCheckError extends StorageError {}

/** The refusal of CallTurns: our own pool full. */
function isBusy(error: unknown): error is AppError {
  return error instanceof AppError && error.code === 'server_busy';
}

/** An endpoint as messages name it: without a user name or password it may carry. */
function withoutUserInfo(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    if (!url.username && !url.password) return endpoint;
    url.username = '';
    url.password = '';
    return url.origin;
  } catch {
    return 'S3_ENDPOINT';
  }
}

function header(request: MediaRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A date field's time as a Date; undefined where the field is ignored (see http-date.ts). */
function asDate(time: number | undefined): Date | undefined {
  return time === undefined ? undefined : new Date(time);
}

/**
 * `send`, given a signal that aborts (a TimeoutError, as AbortSignal.timeout's) once `timeoutMs`
 * has passed, its timer cleared as soon as `send` settles: AbortSignal.timeout's cannot be, and
 * ran on for up to STORAGE_TIMEOUT_MS after every answer. Ended so, it rejects with a
 * {@link TimeoutError}.
 */
async function timed<T>(timeoutMs: number, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new DOMException('The operation timed out.', 'TimeoutError')),
    timeoutMs,
  );
  try {
    return await send(deadline.signal);
  } catch (error) {
    // Ended at `timeoutMs`: a TimeoutError says so, where the SDK's AbortError did not.
    if (!deadline.signal.aborted) throw error;
    throw new TimeoutError(`timed out after ${timeoutMs} ms`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

function statusOf(error: unknown): number | undefined {
  if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode;
  const metadata = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return metadata?.httpStatusCode;
}

/**
 * The body whole when it is at most `size` bytes (a Buffer, or a stream that ended within them);
 * otherwise the whole body again as one stream (what was read, then the rest), for an upload in
 * parts. Reads at most `size` bytes and a chunk ahead.
 */
async function firstPart(
  body: Readable | Buffer,
  size: number,
): Promise<{ whole: true; bytes: Buffer } | { whole: false; rest: Readable }> {
  if (Buffer.isBuffer(body)) {
    return body.length <= size
      ? { whole: true, bytes: body }
      : { whole: false, rest: Readable.from([body]) };
  }
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const read: Buffer[] = [];
  let length = 0;
  while (length <= size) {
    const next = await iterator.next();
    if (next.done) return { whole: true, bytes: Buffer.concat(read) };
    read.push(next.value);
    length += next.value.length;
  }
  async function* everything() {
    yield* read;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      yield next.value;
    }
  }
  return { whole: false, rest: Readable.from(everything()) };
}

/**
 * `source`'s bytes, its failure a StorageError: a connection reset or cut short while the body
 * flows (`aborted`, ECONNRESET) is the storage failing, as a refused request is, where the raw
 * socket error passed for a fault of the service (a transform URL's `500 internal_error`). Given
 * up by its reader, `source` is destroyed, which frees its pooled connection.
 */
function failingAs(source: Readable, failure: (error: unknown) => Error): Readable {
  const out = new PassThrough();
  source.on('error', (error) => out.destroy(failure(error)));
  out.on('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  source.pipe(out);
  return out;
}

/** What checkValidators found (see there). */
interface CheckedValidators {
  failed: boolean;
  /** The client's copy is current (an If-None-Match compared here): the answer is 304. */
  notModified?: CurrentValidators;
  /** If-None-Match was compared here, so it is not sent to S3. */
  ifNoneMatchChecked?: boolean;
  range: string | undefined;
  /** The Range can never be met (`bytes=-0`): the answer is 416, with this Content-Range. */
  unsatisfiable?: string;
}

/** A 304 with the validators the 200 would carry (RFC 9110 15.4.5). */
function notModifiedAnswer(current: CurrentValidators): MediaAnswer {
  const sent: Record<string, string> = { 'Accept-Ranges': 'bytes' };
  if (current.etag) sent.ETag = current.etag;
  if (current.lastModified) sent['Last-Modified'] = current.lastModified.toUTCString();
  return { kind: 'file', status: 304, headers: mediaHeaders(sent, '', false) };
}
