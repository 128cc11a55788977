/**
 * Tests of the fake Cloudinary server (test/support/fake-cloudinary.ts), driven by the real
 * `cloudinary` SDK. The fake stands in for Cloudinary because there is no internet here; these
 * tests pin down that it speaks the SDK's wire format and verifies requests like Cloudinary.
 *
 * Every SDK call gets explicit credentials, `upload_prefix` and an `http.Agent`: the SDK picks
 * http or https once, at first load, so global config / CLOUDINARY_URL cannot be relied on.
 */
import http from 'node:http';
import { v2 as cloudinary, type UploadApiOptions, type UploadApiResponse } from 'cloudinary';
import sharp from 'sharp';
import { type FakeCloudinary, startFakeCloudinary } from '../support/fake-cloudinary';

const CLOUD = 'fake-cloud';
const API_KEY = '123456789012345';
const API_SECRET = 'fake-api-secret-0123456789';
const TRANSFORMATION = [
  { crop: 'fill', gravity: 'auto', width: 500, height: 500 },
  { fetch_format: 'auto' },
  { quality: 'auto' },
];

/** An SDK error as the uploader reports it (`{ message, http_code, name? }`). */
class SdkError extends Error {
  constructor(
    message: string,
    readonly http_code: number | undefined,
    readonly sdkName: string | undefined,
  ) {
    super(message);
  }
}

function png(background = '#f00', width = 8, height = 6): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background } })
    .png()
    .toBuffer();
}

describe('fake Cloudinary', () => {
  let fake: FakeCloudinary;
  let agent: http.Agent;

  beforeAll(async () => {
    fake = await startFakeCloudinary({ cloudName: CLOUD, apiKey: API_KEY, apiSecret: API_SECRET });
    agent = new http.Agent({ keepAlive: false });
  });

  afterEach(() => fake.reset());

  afterAll(async () => {
    agent.destroy();
    await fake.close();
  });

  /** Per-call SDK options reaching the fake over plain http. */
  function connection(overrides: { api_key?: string; api_secret?: string } = {}) {
    return {
      cloud_name: CLOUD,
      api_key: API_KEY,
      api_secret: API_SECRET,
      upload_prefix: fake.baseUrl,
      agent,
      ...overrides,
    };
  }

  function upload(file: Buffer, options: UploadApiOptions = {}): Promise<UploadApiResponse> {
    return new Promise((resolve, reject) => {
      const stream = cloudinary.uploader.upload_stream(
        { ...connection(), ...options },
        (error, result) => {
          if (error) reject(new SdkError(error.message, error.http_code, error.name));
          else if (result) resolve(result);
          else reject(new Error('upload_stream gave neither error nor result'));
        },
      );
      stream.end(file);
    });
  }

  function destroy(publicId: string, overrides: { api_secret?: string } = {}): Promise<unknown> {
    const options = { ...connection(overrides), invalidate: true };
    return cloudinary.uploader.destroy(publicId, options);
  }

  it('accepts a correctly signed upload and records folder, public_id and overwrite', async () => {
    const image = await png();
    const result = await upload(image, {
      folder: 'products/',
      public_id: 'p1-main',
      overwrite: true,
    });

    expect(result).toMatchObject({
      public_id: 'products/p1-main',
      width: 8,
      height: 6,
      format: 'png',
      resource_type: 'image',
      type: 'upload',
      bytes: image.length,
      tags: [],
      placeholder: false,
      original_filename: 'file',
    });
    expect(result.secure_url).toBe(
      `${fake.baseUrl}/${CLOUD}/image/upload/v${result.version}/products/p1-main.png`,
    );
    expect(result.etag).toMatch(/^[0-9a-f]{32}$/);
    // The response signature is what the SDK's verify_api_response_signature checks.
    expect(result.signature).toBe(
      cloudinary.utils.api_sign_request(
        { public_id: result.public_id, version: result.version },
        API_SECRET,
      ),
    );

    expect(fake.uploads).toHaveLength(1);
    const { fields, file } = fake.uploads[0];
    expect(file.equals(image)).toBe(true);
    expect(fields).toMatchObject({
      folder: 'products/',
      public_id: 'p1-main',
      overwrite: '1',
      api_key: API_KEY,
    });
    expect(fields).not.toHaveProperty('file');
    // The fake's notion of the signature agrees with the SDK's own signer.
    const { signature, api_key: _key, ...signed } = fields;
    expect(signature).toBe(cloudinary.utils.api_sign_request(signed, API_SECRET));

    const stored = fake.assets.get('products/p1-main');
    expect(stored).toMatchObject({ format: 'png', width: 8, height: 6, overwrites: 0 });
    expect(stored?.bytes.equals(image)).toBe(true);
  });

  it('derives width, height and format with sharp (jpg for JPEG, svg for SVG)', async () => {
    const jpeg = await sharp({
      create: { width: 10, height: 4, channels: 3, background: '#00f' },
    })
      .jpeg()
      .toBuffer();
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="12" height="7"><rect width="12" height="7"/></svg>',
    );

    await expect(upload(jpeg, { public_id: 'a-jpeg' })).resolves.toMatchObject({
      public_id: 'a-jpeg',
      format: 'jpg',
      width: 10,
      height: 4,
    });
    await expect(upload(svg, { public_id: 'a-vector' })).resolves.toMatchObject({
      format: 'svg',
      width: 12,
      height: 7,
    });
    const random = await upload(await png());
    expect(random.public_id).toMatch(/^[a-z0-9]{20}$/);
  });

  it('refuses an upload signed with the wrong secret (401) and stores nothing', async () => {
    const wrong = new Promise<UploadApiResponse>((resolve, reject) => {
      cloudinary.uploader
        .upload_stream(
          { ...connection({ api_secret: 'not-the-secret' }), folder: 'products/', public_id: 'x' },
          (error, result) => {
            if (error) reject(new SdkError(error.message, error.http_code, error.name));
            else if (result) resolve(result);
          },
        )
        .end(Buffer.from('irrelevant'));
    });

    await expect(wrong).rejects.toMatchObject({
      http_code: 401,
      message: expect.stringMatching(/^Invalid Signature [0-9a-f]{40}\. String to sign - '.*'\.$/),
    });
    expect(fake.uploads).toHaveLength(0);
    expect(fake.assets.size).toBe(0);
    expect(fake.rejected).toEqual([
      expect.objectContaining({ path: `/v1_1/${CLOUD}/image/upload`, status: 401 }),
    ]);
  });

  it('refuses an unknown API key (401)', async () => {
    const image = await png();
    const attempt = new Promise<UploadApiResponse>((resolve, reject) => {
      cloudinary.uploader
        .upload_stream({ ...connection({ api_key: '999' }), public_id: 'x' }, (error, result) => {
          if (error) reject(new SdkError(error.message, error.http_code, error.name));
          else if (result) resolve(result);
        })
        .end(image);
    });

    await expect(attempt).rejects.toMatchObject({ http_code: 401, message: 'Unknown API key 999' });
    expect(fake.assets.size).toBe(0);
  });

  it('refuses a stale timestamp and a file that is not an image', async () => {
    const image = await png();
    const hourAndAHalfAgo = Math.floor(Date.now() / 1000) - 5400;

    await expect(upload(image, { timestamp: hourAndAHalfAgo })).rejects.toMatchObject({
      http_code: 401,
      message: expect.stringMatching(/^Stale request/),
    });
    await expect(upload(Buffer.from('definitely not an image'))).rejects.toMatchObject({
      http_code: 400,
      message: 'Invalid image file',
    });
    expect(fake.uploads).toHaveLength(0);
  });

  it('keeps the old bytes when overwrite is false, replaces them when true', async () => {
    const red = await png('#f00');
    const green = await png('#0f0');
    const blue = await png('#00f', 9, 9);
    const first = await upload(red, { folder: 'products/', public_id: 'keep', overwrite: true });

    const kept = await upload(green, { folder: 'products/', public_id: 'keep', overwrite: false });
    expect(fake.uploads.at(-1)?.fields.overwrite).toBe('0');
    expect(kept).toMatchObject({ existing: true, version: first.version, etag: first.etag });
    expect(fake.assets.get('products/keep')?.bytes.equals(red)).toBe(true);

    const replaced = await upload(blue, {
      folder: 'products/',
      public_id: 'keep',
      overwrite: true,
    });
    expect(replaced.version).toBeGreaterThan(first.version);
    expect(replaced).toMatchObject({ width: 9, height: 9 });
    expect(fake.assets.get('products/keep')).toMatchObject({ overwrites: 1, width: 9 });
    expect(fake.assets.get('products/keep')?.bytes.equals(blue)).toBe(true);
  });

  it('destroys a present asset and reports a missing one as not found', async () => {
    await upload(await png(), { folder: 'products/', public_id: 'gone', overwrite: true });

    await expect(destroy('products/gone')).resolves.toEqual({ result: 'ok' });
    expect(fake.assets.has('products/gone')).toBe(false);
    await expect(destroy('products/gone')).resolves.toEqual({ result: 'not found' });

    expect(fake.destroys).toHaveLength(2);
    expect(fake.destroys[0]).toMatchObject({
      public_id: 'products/gone',
      invalidate: 'true', // destroy sends the boolean as-is, unlike upload's 1/0
      api_key: API_KEY,
    });
    expect(fake.destroys[0].timestamp).toMatch(/^\d+$/);

    await expect(destroy('products/gone', { api_secret: 'nope' })).rejects.toMatchObject({
      http_code: 401,
    });
    expect(fake.destroys).toHaveLength(2);
  });

  it('answers the Admin API ping and resource calls with Basic auth', async () => {
    await expect(cloudinary.api.ping(connection())).resolves.toEqual({ status: 'ok' });
    await expect(cloudinary.api.ping(connection({ api_secret: 'wrong' }))).rejects.toMatchObject({
      error: { http_code: 401 },
    });
    await expect(cloudinary.api.ping(connection({ api_key: 'wrong' }))).rejects.toMatchObject({
      error: { http_code: 401, message: 'Invalid api_key wrong' },
    });

    const image = await png();
    const uploaded = await upload(image, { folder: 'products/', public_id: 'r1', overwrite: true });
    await expect(cloudinary.api.resource('products/r1', connection())).resolves.toMatchObject({
      public_id: 'products/r1',
      format: 'png',
      width: 8,
      height: 6,
      bytes: image.length,
      version: uploaded.version,
      secure_url: uploaded.secure_url,
    });
    await expect(cloudinary.api.resource('products/missing', connection())).rejects.toMatchObject({
      error: { http_code: 404, message: 'Resource not found - products/missing' },
    });
  });

  it('serves delivery URLs built by the SDK and records the transformation', async () => {
    const image = await png('#123456', 20, 10);
    await upload(image, { folder: 'products/', public_id: 'd1', overwrite: true });
    const port = new URL(fake.baseUrl).port;

    const url = cloudinary.url('products/d1', {
      cloud_name: CLOUD,
      secure: false,
      cname: `127.0.0.1:${port}`,
      transformation: TRANSFORMATION,
    });
    expect(url.startsWith(`${fake.baseUrl}/${CLOUD}/image/upload/`)).toBe(true);

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer()).equals(image)).toBe(true);
    expect(fake.deliveries).toEqual([
      { publicId: 'products/d1', transformation: 'c_fill,g_auto,h_500,w_500/f_auto/q_auto' },
    ]);

    const plain = await fetch(`${fake.baseUrl}/${CLOUD}/image/upload/products/d1.png`);
    expect(plain.status).toBe(200);
    await plain.arrayBuffer();
    expect(fake.deliveries.at(-1)).toEqual({ publicId: 'products/d1', transformation: '' });

    const missing = await fetch(`${fake.baseUrl}/${CLOUD}/image/upload/v1/products/nothing.png`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
  });

  it('failNext answers the next API requests with the given status', async () => {
    const image = await png();
    fake.failNext(1, 500);

    await expect(upload(image, { public_id: 'f1' })).rejects.toMatchObject({
      http_code: 500,
      message: 'Internal error',
    });
    expect(fake.assets.size).toBe(0);
    await expect(upload(image, { public_id: 'f1' })).resolves.toMatchObject({ public_id: 'f1' });

    fake.failNext(1, 420);
    await expect(cloudinary.api.ping(connection())).rejects.toMatchObject({
      error: { http_code: 420 },
    });
    await expect(cloudinary.api.ping(connection())).resolves.toEqual({ status: 'ok' });
  });

  it('hang leaves API requests unanswered so the SDK timeout fires', async () => {
    const image = await png();
    fake.hang(true);

    await expect(upload(image, { public_id: 'h1', timeout: 300 })).rejects.toMatchObject({
      http_code: 499,
      message: 'Request Timeout',
    });
    expect(fake.assets.size).toBe(0);

    fake.hang(false);
    await expect(upload(image, { public_id: 'h1' })).resolves.toMatchObject({ public_id: 'h1' });
  });

  it('builds a CLOUDINARY_URL pointing at itself', () => {
    const url = new URL(fake.cloudinaryUrl({ apiSecret: 'other' }));
    expect(url.protocol).toBe('cloudinary:');
    expect(url.username).toBe(API_KEY);
    expect(url.password).toBe('other');
    expect(url.hostname).toBe(CLOUD);
    expect(url.searchParams.get('upload_prefix')).toBe(fake.baseUrl);
    expect(url.searchParams.get('cname')).toBe(fake.baseUrl.replace('http://', ''));
    expect(url.searchParams.get('secure')).toBe('false');
  });
});
