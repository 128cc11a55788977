/**
 * A local stand-in for Cloudinary (there is no internet in the test environment).
 *
 * It speaks the subset of Cloudinary's HTTP API that the `cloudinary` npm SDK (v2) uses for
 * signed uploads, destroy, rename, the Admin API's `ping`, `resource` and `resources` (a listing by
 * prefix, paged with `next_cursor`), and plain delivery URLs,
 * and it checks every request the way Cloudinary does (API key, SHA-1 request signature,
 * timestamp freshness, HTTP Basic auth for the Admin API). Delivery never transforms: it
 * checks the transformation's common parameters (crop, gravity, background, format, quality,
 * size), serves the stored bytes, and records what was asked for (the transformation string,
 * each component's parameters, the request's Accept), so that tests see which transformation
 * Cloudinary would have made.
 *
 * The SDK picks http or https when first loaded (from CLOUDINARY_URL's `upload_prefix`); pass
 * `agent: new http.Agent()` with explicit `cloud_name`, `api_key`, `api_secret` and
 * `upload_prefix` per call to reach this plain-http server regardless.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Readable } from 'node:stream';
import Busboy from '@fastify/busboy';
import sharp from 'sharp';

export interface FakeCloudinaryOptions {
  cloudName: string;
  apiKey: string;
  apiSecret: string;
}

export interface RecordedUpload {
  fields: Record<string, string>;
  file: Buffer;
}

/** A delivery request as the fake saw it, whatever its answer. */
export interface DeliveryRequest {
  /** The URL's path, as sent (query string excluded). */
  path: string;
  /** 200 served, 400 a transformation Cloudinary would refuse, 404 no such asset or cloud. */
  status: number;
  /** The asset's full public id; undefined when none matched. */
  publicId?: string;
  /** The transformation components, `/`-joined as in the URL (empty for none). */
  transformation: string;
  /**
   * Each component's parameters by name: `c_fill,g_auto,w_5/f_auto` is
   * `[{ c: 'fill', g: 'auto', w: '5' }, { f: 'auto' }]`.
   */
  components: Record<string, string>[];
  /** The request's Accept header, by which Cloudinary picks the format of `f_auto`. */
  accept?: string;
}

export interface FakeAsset {
  publicId: string;
  bytes: Buffer;
  format: string;
  width: number;
  height: number;
  version: number;
  overwrites: number;
}

export interface FakeCloudinary {
  readonly baseUrl: string;
  /** cloudinary://KEY:SECRET@CLOUD?upload_prefix=<baseUrl>&cname=127.0.0.1:PORT&secure=false */
  cloudinaryUrl(overrides?: { apiKey?: string; apiSecret?: string }): string;
  /** Accepted uploads, in order. */
  readonly uploads: RecordedUpload[];
  /** Accepted destroy calls' fields (whether or not the asset existed). */
  readonly destroys: Record<string, string>[];
  /** Delivery GETs served. */
  readonly deliveries: { publicId: string; transformation: string }[];
  /** Every delivery GET or HEAD, in order, with its parsed transformation and answer. */
  readonly deliveryRequests: DeliveryRequest[];
  /** Every error answer the fake gave (API and delivery). */
  readonly rejected: { path: string; status: number; reason: string }[];
  /** Stored assets by full public id (folder included). */
  readonly assets: Map<string, FakeAsset>;
  /**
   * The next `count` API requests (not deliveries; to `route` only, e.g. `image/rename`, when
   * given) answer `status` with a Cloudinary error body.
   */
  failNext(count: number, status: number, route?: string): void;
  /** Until called again with false: API requests are accepted but never answered (for timeout tests). */
  hang(on: boolean): void;
  /**
   * The next `count` API requests (to `route` only, e.g. `image/rename`, when given) are read
   * whole, then carried out only after `ms`, whether or not their client is still there: as
   * Cloudinary completes a request whose client gave up waiting (the late landing of a write
   * given up at its deadline).
   */
  delayNext(count: number, ms: number, route?: string): void;
  /** Accepted rename calls' fields (whether or not they succeeded). */
  readonly renames: Record<string, string>[];
  /** Clears records and assets and faults. */
  reset(): void;
  close(): Promise<void>;
}

/** Fields a Cloudinary request signature does not cover. */
const UNSIGNED_FIELDS = new Set(['file', 'api_key', 'cloud_name', 'resource_type', 'signature']);
const MAX_CLOCK_SKEW_SECONDS = 3600;
const TRANSFORMATION_PART = /^[a-z]{1,3}_[^/,]+$/;
const VERSION_SEGMENT = /^v\d+$/;

const CONTENT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  heic: 'image/heic',
  svg: 'image/svg+xml',
  tiff: 'image/tiff',
  jp2: 'image/jp2',
  jxl: 'image/jxl',
  bmp: 'image/bmp',
  ico: 'image/x-icon',
  pdf: 'application/pdf',
};

class CloudinaryError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface ParsedForm {
  fields: Record<string, string>;
  file?: { data: Buffer; filename: string };
}

/** SHA-1 hex of the string to sign plus the secret. */
function sha1(input: string): string {
  return createHash('sha1').update(input).digest('hex');
}

/**
 * Cloudinary's string to sign: every signed, non-empty field sorted by key, `k=v` joined
 * with `&`. Signature version 2 (the SDK default) escapes `&` inside each pair as `%26`.
 */
function stringToSign(fields: Record<string, string>, version: 1 | 2): string {
  return Object.keys(fields)
    .filter((key) => !UNSIGNED_FIELDS.has(key) && fields[key] !== '')
    .sort()
    .map((key) => {
      const pair = `${key}=${fields[key]}`;
      return version >= 2 ? pair.replace(/&/g, '%26') : pair;
    })
    .join('&');
}

function isTransformationSegment(segment: string): boolean {
  return segment.split(',').every((part) => TRANSFORMATION_PART.test(part));
}

/**
 * A delivery path after `<cloud>/image/upload/`: its transformation components (segments of
 * `key_value` parameters), then an optional `v<version>`, then the public id (with any extension).
 */
function splitDeliveryPath(rest: string[]): { transformations: string[]; publicPath: string } {
  let index = 0;
  while (
    index < rest.length - 1 &&
    !VERSION_SEGMENT.test(rest[index]) &&
    isTransformationSegment(rest[index])
  ) {
    index++;
  }
  const transformations = rest.slice(0, index);
  if (index < rest.length - 1 && VERSION_SEGMENT.test(rest[index])) index++;
  return { transformations, publicPath: rest.slice(index).join('/') };
}

/** `c_fill,g_auto/f_webp` → `[{ c: 'fill', g: 'auto' }, { f: 'webp' }]`. */
function parseComponents(transformations: string[]): Record<string, string>[] {
  return transformations.map((segment) =>
    Object.fromEntries(
      segment.split(',').map((part) => {
        const underscore = part.indexOf('_');
        return [part.slice(0, underscore), part.slice(underscore + 1)];
      }),
    ),
  );
}

const CROP_MODES = new Set(
  'scale fit limit mfit fill lfill fill_pad pad lpad mpad crop thumb auto auto_pad'.split(' '),
);
const GRAVITIES = new Set(
  'center north south east west north_east north_west south_east south_west'.split(' '),
);
const DELIVERY_FORMATS = new Set(
  'auto jpg jpe jpeg png gif webp avif jxl jp2 wdp bmp tiff ico heic pdf svg'.split(' '),
);
/** What Cloudinary accepts of the parameters the service sends, by parameter. */
const PARAMETER_VALUES: Record<string, (value: string) => boolean> = {
  c: (v) => CROP_MODES.has(v),
  g: (v) => GRAVITIES.has(v) || /^(auto|faces?)(:[a-z_]+)?$/.test(v),
  f: (v) => DELIVERY_FORMATS.has(v),
  q: (v) => /^(100|[1-9][0-9]?)$/.test(v) || /^auto(:(best|good|eco|low))?$/.test(v),
  w: (v) => /^([1-9][0-9]*|[0-9]*\.[0-9]+|iw|ih|auto)$/.test(v),
  h: (v) => /^([1-9][0-9]*|[0-9]*\.[0-9]+|iw|ih|auto)$/.test(v),
  // A colour name, `rgb:` hex (3, 4, 6 or 8 digits; the 4th or 8th is the alpha), or a mode.
  b: (v) =>
    /^[a-z]+$/.test(v) ||
    /^rgb:([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(v) ||
    /^(auto|blurred|gen_fill)(:.+)?$/.test(v),
};

/**
 * Why Cloudinary would refuse these components (it answers 400 with X-Cld-Error), or undefined.
 * Only the parameters listed above are checked; any other passes.
 */
function invalidTransformation(components: Record<string, string>[]): string | undefined {
  for (const component of components) {
    for (const [key, value] of Object.entries(component)) {
      const valid = PARAMETER_VALUES[key];
      if (valid && !valid(value)) return `Invalid transformation parameter ${key}_${value}`;
    }
  }
  return undefined;
}

function formatOf(metadata: sharp.Metadata): string {
  switch (metadata.format) {
    case 'jpeg':
      return 'jpg';
    case 'heif':
      return metadata.compression === 'av1' ? 'avif' : 'heic';
    case undefined:
      return 'unknown';
    default:
      return metadata.format;
  }
}

/** `2024-01-02 03:04:05 +0000`, as Cloudinary prints times in error messages. */
function cloudinaryTime(unixSeconds: number): string {
  return `${new Date(unixSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} +0000`;
}

function readBody(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Parses a multipart/form-data or urlencoded body; `name[]` fields are joined with commas. */
function parseForm(contentType: string | undefined, body: Buffer): Promise<ParsedForm> {
  if (!contentType) {
    return Promise.reject(new CloudinaryError(400, 'Missing request body content type'));
  }
  return new Promise((resolve, reject) => {
    let parser: ReturnType<typeof Busboy>;
    try {
      parser = Busboy({
        headers: { 'content-type': contentType },
        limits: { fieldSize: 100 * 1024 * 1024 },
      });
    } catch (error) {
      reject(new CloudinaryError(400, `Unsupported request body: ${String(error)}`));
      return;
    }
    const multi = new Map<string, string[]>();
    const pending: Promise<void>[] = [];
    let file: ParsedForm['file'];
    parser.on('field', (name, value) => {
      const key = name.endsWith('[]') ? name.slice(0, -2) : name;
      multi.set(key, [...(multi.get(key) ?? []), value]);
    });
    parser.on('file', (name, stream, filename) => {
      pending.push(
        readBody(stream).then((data) => {
          if (name === 'file') file = { data, filename };
        }),
      );
    });
    parser.on('error', (error) =>
      reject(new CloudinaryError(400, `Malformed request body: ${String(error)}`)),
    );
    parser.on('finish', () => {
      Promise.all(pending).then(() => {
        const fields: Record<string, string> = {};
        for (const [key, values] of multi) fields[key] = values.join(',');
        resolve({ fields, file });
      }, reject);
    });
    parser.end(body);
  });
}

/** The file of an upload: a file part, or a `file` field holding a base64 data URI. */
function uploadedFile(form: ParsedForm): { data: Buffer; filename: string } {
  if (form.file) return form.file;
  const value = form.fields.file;
  if (value === undefined || value === '') {
    throw new CloudinaryError(400, 'Missing required parameter - file');
  }
  const dataUri = /^data:[^;,]*(;[^,]*)?,(.*)$/s.exec(value);
  if (dataUri) {
    const base64 = dataUri[1]?.includes('base64') ?? false;
    return {
      data: base64
        ? Buffer.from(dataUri[2], 'base64')
        : Buffer.from(decodeURIComponent(dataUri[2])),
      filename: 'file',
    };
  }
  // Remote URLs (http, s3, ...) would need the internet; the fake refuses them.
  throw new CloudinaryError(400, `Invalid image file`);
}

export function startFakeCloudinary(options: FakeCloudinaryOptions): Promise<FakeCloudinary> {
  const { cloudName, apiKey, apiSecret } = options;
  const uploads: RecordedUpload[] = [];
  const destroys: Record<string, string>[] = [];
  const deliveries: { publicId: string; transformation: string }[] = [];
  const deliveryRequests: DeliveryRequest[] = [];
  const rejected: { path: string; status: number; reason: string }[] = [];
  const assets = new Map<string, FakeAsset>();
  const hung = new Set<http.IncomingMessage>();
  let failures: { count: number; status: number; route?: string } = { count: 0, status: 500 };
  let delays: { count: number; ms: number; route?: string } = { count: 0, ms: 0 };
  const renames: Record<string, string>[] = [];
  let hanging = false;
  let baseUrl = '';
  let host = '';

  const releaseHung = (): void => {
    for (const req of hung) req.socket.destroy();
    hung.clear();
  };

  const sendJson = (res: http.ServerResponse, status: number, body: unknown): void => {
    const payload = Buffer.from(JSON.stringify(body));
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': payload.length,
      'x-request-id': randomBytes(16).toString('hex'),
    });
    res.end(payload);
  };

  const sendError = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    message: string,
  ): void => {
    rejected.push({ path: req.url ?? '', status, reason: message });
    sendJson(res, status, { error: { message } });
  };

  const deliveryUrl = (asset: FakeAsset): string =>
    `${baseUrl}/${cloudName}/image/upload/v${asset.version}/${asset.publicId}.${asset.format}`;

  /** Cloudinary's response signature: sign(public_id, version) with the API secret. */
  const responseSignature = (asset: FakeAsset): string =>
    sha1(`public_id=${asset.publicId}&version=${asset.version}${apiSecret}`);

  const describeAsset = (asset: FakeAsset): Record<string, unknown> => {
    const lastSlash = asset.publicId.lastIndexOf('/');
    return {
      asset_id: createHash('md5').update(`${cloudName}/${asset.publicId}`).digest('hex'),
      public_id: asset.publicId,
      version: asset.version,
      version_id: createHash('md5')
        .update(`${asset.publicId}@${asset.version}#${asset.overwrites}`)
        .digest('hex'),
      signature: responseSignature(asset),
      width: asset.width,
      height: asset.height,
      format: asset.format,
      resource_type: 'image',
      created_at: new Date(asset.version * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      tags: [],
      bytes: asset.bytes.length,
      type: 'upload',
      etag: createHash('md5').update(asset.bytes).digest('hex'),
      placeholder: false,
      url: deliveryUrl(asset),
      // No TLS here: secure_url points at the same plain-http server.
      secure_url: deliveryUrl(asset),
      asset_folder: lastSlash >= 0 ? asset.publicId.slice(0, lastSlash) : '',
      display_name: asset.publicId.slice(lastSlash + 1),
    };
  };

  /**
   * The Admin API's listing of uploaded images: those whose public id starts with `prefix`, at
   * most `max_results` (10 by default, 500 at most) a page, then `next_cursor` for the rest. The
   * fake orders by public id and its cursor is the last id answered, opaque to the client.
   */
  const listResources = (query: URLSearchParams): Record<string, unknown> => {
    const prefix = query.get('prefix') ?? '';
    const max = Number(query.get('max_results') ?? '10');
    if (!Number.isInteger(max) || max < 1 || max > 500) {
      throw new CloudinaryError(400, 'max_results should be between 1 and 500');
    }
    const cursor = query.get('next_cursor');
    const after = cursor ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
    const ids = [...assets.keys()].filter((id) => id.startsWith(prefix) && id > after).sort();
    const page = ids.slice(0, max);
    return {
      resources: page.map((id) => describeAsset(assets.get(id)!)),
      ...(ids.length > max
        ? { next_cursor: Buffer.from(page[page.length - 1]).toString('base64url') }
        : {}),
    };
  };

  /** Checks api_key, signature and timestamp of an Upload API call, as Cloudinary does. */
  const verifySigned = (fields: Record<string, string>, action: string): void => {
    const key = fields.api_key;
    if (key === undefined || key === '') throw new CloudinaryError(401, 'Must supply api_key');
    if (key !== apiKey) throw new CloudinaryError(401, `Unknown API key ${key}`);
    const signature = fields.signature;
    if (signature === undefined || signature === '') {
      throw new CloudinaryError(
        action === 'upload' ? 400 : 401,
        action === 'upload'
          ? 'Upload preset must be specified when using unsigned upload'
          : 'Missing required parameter - signature',
      );
    }
    const toSign = stringToSign(fields, 2);
    const accepted = [sha1(toSign + apiSecret), sha1(stringToSign(fields, 1) + apiSecret)];
    if (!accepted.includes(signature.toLowerCase())) {
      throw new CloudinaryError(
        401,
        `Invalid Signature ${signature}. String to sign - '${toSign}'.`,
      );
    }
    const timestamp = Number(fields.timestamp);
    if (fields.timestamp === undefined || !Number.isFinite(timestamp)) {
      throw new CloudinaryError(400, 'Missing required parameter - timestamp');
    }
    const now = Math.floor(Date.now() / 1000);
    if (Math.abs(now - timestamp) > MAX_CLOCK_SKEW_SECONDS) {
      throw new CloudinaryError(
        401,
        `Stale request - reported time is ${cloudinaryTime(timestamp)} which is more than 1 hour ` +
          `${timestamp < now ? 'ago' : 'in the future'}`,
      );
    }
  };

  /** Checks HTTP Basic auth of an Admin API call. */
  const verifyBasicAuth = (req: http.IncomingMessage): void => {
    const header = req.headers.authorization ?? '';
    const match = /^Basic\s+(.+)$/i.exec(header);
    if (!match) throw new CloudinaryError(401, 'Must supply api_key');
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const key = colon >= 0 ? decoded.slice(0, colon) : decoded;
    const secret = colon >= 0 ? decoded.slice(colon + 1) : '';
    if (key !== apiKey) throw new CloudinaryError(401, `Invalid api_key ${key}`);
    if (secret !== apiSecret) throw new CloudinaryError(401, 'api_secret mismatch');
  };

  const handleUpload = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
  ): Promise<void> => {
    const form = await parseForm(req.headers['content-type'], body);
    verifySigned(form.fields, 'upload');
    const { data, filename } = uploadedFile(form);
    let metadata: sharp.Metadata;
    try {
      metadata = await sharp(data).metadata();
    } catch {
      throw new CloudinaryError(400, 'Invalid image file');
    }
    if (!metadata.width || !metadata.height) throw new CloudinaryError(400, 'Invalid image file');

    const folder = (form.fields.folder ?? '').replace(/\/+$/, '');
    const ownId = form.fields.public_id || randomBytes(10).toString('hex');
    const publicId = folder ? `${folder}/${ownId}` : ownId;
    const overwrite = (form.fields.overwrite ?? '1').toLowerCase();
    const existing = assets.get(publicId);
    const { file: _file, ...fields } = form.fields;
    const originalFilename = filename.replace(/\.[^.]*$/, '');

    if (existing && !['1', 'true'].includes(overwrite)) {
      uploads.push({ fields, file: data });
      sendJson(res, 200, {
        ...describeAsset(existing),
        original_filename: originalFilename,
        api_key: apiKey,
        existing: true,
      });
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const asset: FakeAsset = {
      publicId,
      bytes: data,
      format: formatOf(metadata),
      width: metadata.width,
      height: metadata.height,
      version: existing ? Math.max(now, existing.version + 1) : now,
      overwrites: existing ? existing.overwrites + 1 : 0,
    };
    assets.set(publicId, asset);
    uploads.push({ fields, file: data });
    sendJson(res, 200, {
      ...describeAsset(asset),
      original_filename: originalFilename,
      api_key: apiKey,
      ...(existing ? { overwritten: true } : {}),
    });
  };

  const handleDestroy = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
  ): Promise<void> => {
    const { fields } = await parseForm(req.headers['content-type'], body);
    verifySigned(fields, 'destroy');
    const publicId = fields.public_id;
    if (!publicId) throw new CloudinaryError(400, 'Missing required parameter - public_id');
    destroys.push(fields);
    const type = fields.type || 'upload';
    if (type === 'upload' && assets.delete(publicId)) {
      sendJson(res, 200, { result: 'ok' });
    } else {
      sendJson(res, 200, { result: 'not found' });
    }
  };

  /**
   * Renames an asset (its bytes, format and size go with it). Onto an existing public id only
   * with `overwrite`, which, as an upload's overwrite does, gives the public id a version above
   * its previous one.
   */
  const handleRename = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
  ): Promise<void> => {
    const { fields } = await parseForm(req.headers['content-type'], body);
    verifySigned(fields, 'rename');
    renames.push(fields);
    const from = fields.from_public_id;
    const to = fields.to_public_id;
    if (!from || !to) throw new CloudinaryError(400, 'Missing required parameter - public_id');
    const source = assets.get(from);
    if (!source) throw new CloudinaryError(404, `Resource not found - ${from}`);
    const existing = assets.get(to);
    if (
      existing &&
      from !== to &&
      !['1', 'true'].includes((fields.overwrite ?? '').toLowerCase())
    ) {
      throw new CloudinaryError(400, `to_public_id(${to}) already exists`);
    }
    assets.delete(from);
    const asset: FakeAsset = {
      ...source,
      publicId: to,
      version: existing ? Math.max(source.version, existing.version + 1) : source.version,
      overwrites: existing ? existing.overwrites + 1 : 0,
    };
    assets.set(to, asset);
    sendJson(res, 200, describeAsset(asset));
  };

  /** `/v1_1/<cloud>/...` */
  const handleApi = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    segments: string[],
  ): Promise<void> => {
    const [, cloud, ...rest] = segments;
    const route = rest.join('/');
    if (failures.count > 0 && (failures.route === undefined || failures.route === route)) {
      failures = { ...failures, count: failures.count - 1 };
      await readBody(req);
      sendError(req, res, failures.status, 'Internal error');
      return;
    }
    if (hanging) {
      hung.add(req);
      req.resume();
      return;
    }
    const body = await readBody(req);
    if (delays.count > 0 && (delays.route === undefined || delays.route === route)) {
      const { ms } = delays;
      delays = { ...delays, count: delays.count - 1 };
      await new Promise((done) => setTimeout(done, ms));
    }
    if (cloud !== cloudName) throw new CloudinaryError(404, `Invalid cloud_name ${cloud ?? ''}`);
    const method = req.method ?? 'GET';

    if (method === 'POST' && route === 'image/upload') return handleUpload(req, res, body);
    if (method === 'POST' && route === 'image/destroy') return handleDestroy(req, res, body);
    if (method === 'POST' && route === 'image/rename') return handleRename(req, res, body);
    if (method === 'GET' && route === 'ping') {
      verifyBasicAuth(req);
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (method === 'GET' && route === 'resources/image/upload') {
      verifyBasicAuth(req);
      sendJson(res, 200, listResources(new URL(req.url ?? '/', baseUrl).searchParams));
      return;
    }
    if (
      method === 'GET' &&
      rest.length >= 4 &&
      rest.slice(0, 3).join('/') === 'resources/image/upload'
    ) {
      verifyBasicAuth(req);
      const publicId = rest.slice(3).map(decodeURIComponent).join('/');
      const asset = assets.get(publicId);
      if (!asset) throw new CloudinaryError(404, `Resource not found - ${publicId}`);
      sendJson(res, 200, { ...describeAsset(asset), derived: [] });
      return;
    }
    throw new CloudinaryError(
      404,
      `Not supported by the fake Cloudinary: ${method} /v1_1/${cloud}/${route}`,
    );
  };

  /** `/<cloud>/image/upload/[transformations/][v<version>/]<public id>[.<ext>]` */
  const handleDelivery = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    segments: string[],
    path: string,
  ): void => {
    const [cloud, resourceType, type, ...rest] = segments;
    const { transformations, publicPath } = splitDeliveryPath(rest);
    const components = parseComponents(transformations);
    const record: DeliveryRequest = {
      path,
      status: 200,
      transformation: transformations.join('/'),
      components,
      accept: req.headers.accept,
    };
    deliveryRequests.push(record);
    const refuse = (status: number, reason: string): void => {
      record.status = status;
      rejected.push({ path: req.url ?? '', status, reason });
      res.writeHead(status, {
        'x-cld-error': reason.replace(/[^\x20-\x7e]/g, '?'),
        'content-type': 'text/plain',
      });
      res.end(reason);
    };
    if (cloud !== cloudName) return refuse(404, `Invalid cloud_name ${cloud}`);
    if (resourceType !== 'image' || type !== 'upload' || rest.length === 0) {
      return refuse(404, 'Resource not found');
    }
    const invalid = invalidTransformation(components);
    if (invalid) return refuse(400, invalid);
    const asset = assets.get(publicPath) ?? assets.get(publicPath.replace(/\.[A-Za-z0-9]+$/, ''));
    if (!asset) return refuse(404, 'Resource not found');
    record.publicId = asset.publicId;
    deliveries.push({ publicId: asset.publicId, transformation: record.transformation });
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[asset.format] ?? 'application/octet-stream',
      'content-length': asset.bytes.length,
      etag: `"${createHash('md5').update(asset.bytes).digest('hex')}"`,
    });
    res.end(req.method === 'HEAD' ? undefined : asset.bytes);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const segments = url.pathname.split('/').slice(1);
    try {
      if (segments[0] === 'v1_1') {
        await handleApi(req, res, segments);
      } else if (req.method === 'GET' || req.method === 'HEAD') {
        let decoded: string[];
        try {
          decoded = segments.map(decodeURIComponent);
        } catch {
          throw new CloudinaryError(400, 'Malformed URL');
        }
        handleDelivery(req, res, decoded, url.pathname);
      } else {
        req.resume();
        throw new CloudinaryError(404, 'Not found');
      }
    } catch (error) {
      if (!res.headersSent) {
        if (!req.complete) req.resume();
        if (error instanceof CloudinaryError) sendError(req, res, error.status, error.message);
        else sendError(req, res, 500, `Fake Cloudinary failure: ${String(error)}`);
      }
    }
  };

  const server = http.createServer((req, res) => {
    void handle(req, res);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      host = `127.0.0.1:${port}`;
      baseUrl = `http://${host}`;
      resolve({
        baseUrl,
        cloudinaryUrl(overrides = {}) {
          const key = overrides.apiKey ?? apiKey;
          const secret = overrides.apiSecret ?? apiSecret;
          return `cloudinary://${key}:${secret}@${cloudName}?upload_prefix=${baseUrl}&cname=${host}&secure=false`;
        },
        uploads,
        destroys,
        deliveries,
        deliveryRequests,
        rejected,
        assets,
        renames,
        failNext(count, status, route) {
          failures = { count, status, route };
        },
        delayNext(count, ms, route) {
          delays = { count, ms, route };
        },
        hang(on) {
          hanging = on;
          if (!on) releaseHung();
        },
        reset() {
          uploads.length = 0;
          destroys.length = 0;
          renames.length = 0;
          deliveries.length = 0;
          deliveryRequests.length = 0;
          rejected.length = 0;
          assets.clear();
          failures = { count: 0, status: 500 };
          delays = { count: 0, ms: 0 };
          hanging = false;
          releaseHung();
        },
        close() {
          releaseHung();
          return new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            server.closeAllConnections();
          });
        },
      });
    });
  });
}
