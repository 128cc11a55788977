import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { decodeId } from '../../src/common/ids/short-id';
import { solidJpeg } from '../support/fixtures';
import { login, uploadToNewProduct, type Credential } from '../support/http';
import type { FakeCloudinary } from '../support/fake-cloudinary';
import {
  CLOUDINARY_ACCOUNT,
  PUBLIC_BASE,
  startStorageBackend,
  type StorageBackend,
} from '../support/storage-backends';
import { transformSignature } from '../support/transform-signature';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * Transform URLs on Cloudinary storage: the service makes no bytes and stores nothing; it
 * redirects to the Cloudinary URL whose transformation is the one the options ask for, and the
 * Cloudinary fake, fetched at that URL, records which transformation it was asked to make.
 */
const KEY = 'transform-url-key-cloudinary-0123456789';
/** A browser that takes AVIF (f_auto's redirect is the same for every browser). */
const AVIF_WEBP = 'image/avif,image/webp,*/*;q=0.8';

/** The signature a client with the key computes. */
const sign = (options: string, id: string, key = KEY) => transformSignature(key, options, id);

/** Components as the SDK writes them: parameters in alphabetical order, `,`-joined. */
type Components = Record<string, string>[];
const spelled = (components: Components) =>
  components
    .map((c) =>
      Object.entries(c)
        .map(([key, value]) => `${key}_${value}`)
        .join(','),
    )
    .join('/');

interface Case {
  name: string;
  options: string;
  /** Asked for without a signature (a preset by name). */
  unsigned?: boolean;
  components: Components;
}

// The original is 800×600: boxes round up to the width ladder and never exceed it.
const CASES: Case[] = [
  {
    name: 'a width alone (cover, format auto)',
    options: 'w_300',
    components: [{ c: 'fill', g: 'center', h: '240', w: '320' }, { f: 'auto' }, { q: 'auto' }],
  },
  {
    name: 'a box, cover',
    options: 'w_300,h_300,c_cover,f_webp',
    components: [{ c: 'fill', g: 'center', h: '320', w: '320' }, { f: 'webp' }, { q: '80' }],
  },
  {
    name: 'attention',
    options: 'w_500,h_500,c_attention,f_webp',
    components: [{ c: 'fill', g: 'auto', h: '512', w: '512' }, { f: 'webp' }, { q: '80' }],
  },
  {
    name: 'contain, transparent padding',
    options: 'w_256,h_256,c_contain,f_png',
    components: [{ b: 'rgb:00000000', c: 'pad', h: '256', w: '256' }, { f: 'png' }, { q: '100' }],
  },
  {
    name: 'contain as JPEG, white padding',
    options: 'w_256,h_256,c_contain,f_jpeg',
    components: [{ b: 'white', c: 'pad', h: '256', w: '256' }, { f: 'jpg' }, { q: '82' }],
  },
  {
    name: 'inside',
    options: 'w_256,h_256,c_inside,f_webp',
    components: [{ c: 'limit', h: '192', w: '256' }, { f: 'webp' }, { q: '80' }],
  },
  {
    name: 'f_auto',
    options: 'w_640,f_auto',
    components: [{ c: 'fill', g: 'center', h: '480', w: '640' }, { f: 'auto' }, { q: 'auto' }],
  },
  {
    name: 'f_webp',
    options: 'w_640,f_webp',
    components: [{ c: 'fill', g: 'center', h: '480', w: '640' }, { f: 'webp' }, { q: '80' }],
  },
  {
    name: 'q_60',
    options: 'w_640,f_jpeg,q_60',
    components: [{ c: 'fill', g: 'center', h: '480', w: '640' }, { f: 'jpg' }, { q: '60' }],
  },
  {
    name: 'dpr_2 (the box in device pixels)',
    options: 'w_200,dpr_2,f_webp',
    components: [{ c: 'fill', g: 'center', h: '300', w: '400' }, { f: 'webp' }, { q: '80' }],
  },
  {
    name: 'more than the original',
    options: 'w_3000,f_webp',
    components: [{ c: 'fill', g: 'center', h: '600', w: '800' }, { f: 'webp' }, { q: '80' }],
  },
  {
    name: 'a preset by name, unsigned',
    options: 'p_thumb,f_auto',
    unsigned: true,
    components: [{ c: 'fill', g: 'center', h: '150', w: '150' }, { f: 'auto' }, { q: 'auto' }],
  },
];

describe('Transform URLs on Cloudinary storage', () => {
  let backend: StorageBackend;
  let fake: FakeCloudinary;
  let t: TestApp;
  let app: NestFastifyApplication;
  let imageId: string;
  let publicId: string;
  let storedAfterUpload: string[];
  let uploadsAfterUpload: number;
  let renditions: Record<string, { url: string }>;

  beforeAll(async () => {
    backend = await startStorageBackend('cloudinary');
    fake = backend.cloudinary!;
    t = await startTestApp({
      ...backend.env,
      PUBLIC_BASE_URL: PUBLIC_BASE,
      DELIVERY_SIGNING_KEYS: KEY,
    });
    app = t.app;
    const admin: Credential = {
      bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
    };
    const image = await uploadToNewProduct(app, admin, await solidJpeg(800, 600), 'On Cloudinary');
    imageId = image.id;
    renditions = image.body.renditions as typeof renditions;
    publicId = `products/${decodeId(image.productId)}/${decodeId(imageId)}/original`;
    storedAfterUpload = backend.stored();
    uploadsAfterUpload = fake.uploads.length;
    expect(storedAfterUpload).toContain(publicId);
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  const get = (path: string) =>
    app.inject({ method: 'GET', url: path, headers: { accept: AVIF_WEBP } });
  const pathOf = ({ options, unsigned }: Case) =>
    `/transform/${unsigned ? 'unsigned' : sign(options, imageId)}/${options}/${imageId}`;

  it.each(CASES)('redirects $name to its Cloudinary transformation', async (c) => {
    const transformation = spelled(c.components);
    // The version Cloudinary gave the original's upload: a key written over gets a new URL.
    const { version } = fake.assets.get(publicId)!;
    const expected = `${fake.baseUrl}/${CLOUDINARY_ACCOUNT.cloudName}/image/upload/${transformation}/v${version}/${publicId}`;

    const res = await get(pathOf(c));

    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(expected);
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    // The redirect is the same whatever the browser takes: Cloudinary's f_auto answer varies.
    expect(res.headers.vary).toBeUndefined();

    // What the browser does next: Cloudinary is asked for exactly that transformation.
    const delivered = await fetch(expected, { headers: { accept: AVIF_WEBP } });
    expect(delivered.status).toBe(200);
    await delivered.arrayBuffer();
    expect(fake.deliveryRequests.at(-1)).toEqual({
      path: new URL(expected).pathname,
      status: 200,
      publicId,
      transformation,
      components: c.components,
      accept: AVIF_WEBP,
    });

    // No bytes made by the service: nothing uploaded, nothing stored under derived/.
    expect(fake.uploads).toHaveLength(uploadsAfterUpload);
    expect(backend.stored()).toEqual(storedAfterUpload);
  });

  it("redirects a preset by name to its rendition's own URL: one derived asset, not two", async () => {
    // The original is larger than both boxes; a box beyond it is clamped (see "more than the
    // original") where the rendition's URL is not, and those two URLs differ.
    for (const name of ['thumb', 'card']) {
      const res = await get(`/transform/unsigned/p_${name},f_auto/${imageId}`);
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe(renditions[name].url);
    }
  });

  it("is checked against a fake that refuses what Cloudinary would (sharp's names are not its own)", async () => {
    const base = `${fake.baseUrl}/${CLOUDINARY_ACCOUNT.cloudName}/image/upload`;
    for (const transformation of [
      'c_contain,h_256,w_256/f_webp,q_80',
      'c_fill,h_9,w_9/f_jpg,q_0',
    ]) {
      const res = await fetch(`${base}/${transformation}/v1/${publicId}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('x-cld-error')).toMatch(/^Invalid transformation parameter/);
      await res.arrayBuffer();
      expect(fake.deliveryRequests.at(-1)).toMatchObject({ status: 400, transformation });
    }
  });

  it('refuses a bad signature (403) without a redirect, and Cloudinary is asked for nothing', async () => {
    const requests = fake.deliveryRequests.length;
    const good = sign('w_640,f_webp', imageId);
    for (const path of [
      `/transform/${good}/w_641,f_webp/${imageId}`,
      `/transform/${sign('w_640,f_webp', imageId, 'another-key-0123456789abcdefghij')}/w_640,f_webp/${imageId}`,
      `/transform/unsigned/w_640,f_webp/${imageId}`,
    ]) {
      const res = await get(path);
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe('transform_signature_invalid');
      expect(res.headers.location).toBeUndefined();
    }
    expect(fake.deliveryRequests).toHaveLength(requests);
    expect(fake.uploads).toHaveLength(uploadsAfterUpload);
    expect(backend.stored()).toEqual(storedAfterUpload);
  });
});
