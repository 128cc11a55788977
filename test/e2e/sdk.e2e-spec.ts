import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  createApiKey,
  createProduct,
  getMe,
  deleteProductImage,
  getProduct,
  listProductImages,
  login,
  reorderProductImages,
  updateProductImage,
  uploadProductImage,
  type GetProductErrors,
  type UploadProductImageErrors,
} from '../../.tmp/sdk';
import { createClient, createConfig } from '../../.tmp/sdk/client';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/** The documented error body of one status, or `never` while the document lacks it. */
type ErrorOf<Errors, Status extends number> = Errors extends Record<Status, infer E> ? E : never;
/** `true` only when the status is documented: assigning `true` fails to compile otherwise. */
type Documented<Errors, Status extends number> = [ErrorOf<Errors, Status>] extends [never]
  ? false
  : true;

const MAX_UPLOAD_BYTES = 64 * 1024;

/**
 * The service driven only through the TypeScript client generated from openapi.json (into .tmp/sdk
 * by the e2e globalSetup, as a user would generate theirs): if the document is wrong, this fails.
 */
describe('The SDK generated from openapi.json', () => {
  let t: TestApp;
  let baseUrl: string;
  let token: string;
  let dir: string;
  let client: ReturnType<typeof createClient>;

  /** A PNG file on disk, as a user uploads it. */
  async function pngFile(name: string, width: number, height: number, noisy = false) {
    const image = noisy
      ? sharp(Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => (i * 7919) % 251)), {
          raw: { width, height, channels: 3 },
        })
      : sharp({ create: { width, height, channels: 3, background: { r: 20, g: 90, b: 160 } } });
    const path = join(dir, name);
    writeFileSync(path, await image.png({ compressionLevel: 0 }).toBuffer());
    return new File([readFileSync(path)], name, { type: 'image/png' });
  }

  /** The generated method takes the file as a Blob/File and sends multipart/form-data. */
  function upload(
    productId: string,
    file: File,
    fields: { title?: string; alt_text?: string } = {},
  ) {
    return uploadProductImage({ client, path: { productId }, body: { image: file, ...fields } });
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pis-sdk-'));
    t = await startTestApp({ MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.getHttpServer().address() as { port: number };
    baseUrl = `http://127.0.0.1:${port}`;
    client = createClient(createConfig({ baseUrl }));

    const { data, error } = await login({
      client,
      body: { email: TEST_ADMIN.email, password: TEST_ADMIN.password },
    });
    expect(error).toBeUndefined();
    token = data!.access_token;
    client.setConfig({ auth: (auth) => (auth.scheme === 'bearer' ? token : undefined) });
  });

  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a product, uploads, lists, makes primary, reorders and deletes images', async () => {
    const product = await createProduct({ client, body: { name: 'SDK product' } });
    expect(product.response.status).toBe(201);
    const productId = product.data!.id;
    const path = { productId };

    const first = await upload(productId, await pngFile('front.png', 40, 30), {
      title: 'Front',
      alt_text: 'The front',
    });
    expect(first.error).toBeUndefined();
    expect(first.response.status).toBe(201);
    expect(first.data).toMatchObject({ is_primary: true, width: 40, height: 30, title: 'Front' });
    const second = await upload(productId, await pngFile('back.png', 30, 40), { title: 'Back' });
    expect(second.response.status).toBe(201);
    const firstId = first.data!.id;
    const secondId = second.data!.id;

    const query = { page: 1, per_page: 100 };
    const gallery = await listProductImages({ client, path, query });
    expect(gallery.data!.items.map((i) => i.id)).toEqual([firstId, secondId]);
    const etag = gallery.response.headers.get('etag')!;
    expect(etag).toBeTruthy();

    const primary = await updateProductImage({
      client,
      path: { ...path, imageId: secondId },
      body: { is_primary: true },
      headers: { 'If-Match': etag },
    });
    expect(primary.error).toBeUndefined();
    expect(primary.data!.is_primary).toBe(true);
    const afterPrimary = primary.response.headers.get('etag')!;

    const reordered = await reorderProductImages({
      client,
      path,
      body: { image_ids: [secondId, firstId] },
      headers: { 'If-Match': afterPrimary },
    });
    expect(reordered.error).toBeUndefined();
    expect(reordered.data!.items.map((i) => [i.id, i.is_primary])).toEqual([
      [secondId, true],
      [firstId, false],
    ]);

    const stale = await reorderProductImages({
      client,
      path,
      body: { image_ids: [secondId, firstId] },
      headers: { 'If-Match': etag },
    });
    expect(stale.response.status).toBe(412);
    expect(stale.error).toMatchObject({ code: 'gallery_changed' });

    const deleted = await deleteProductImage({
      client,
      path: { ...path, imageId: firstId },
      headers: { 'If-Match': reordered.response.headers.get('etag')! },
    });
    expect(deleted.response.status).toBe(204);
    const remaining = await listProductImages({ client, path, query });
    expect(remaining.data!.items.map((i) => i.id)).toEqual([secondId]);
  });

  it('works given just the token, a JWT or an API key (the client sends it for every scheme)', async () => {
    const created = await createApiKey({
      client,
      body: { name: 'sync job', scopes: ['products:read'] },
    });
    expect(created.response.status).toBe(201);
    for (const [credential, kind] of [
      [token, 'user'],
      [created.data!.key, 'api_key'],
    ] as const) {
      const plain = createClient(createConfig({ baseUrl, auth: credential }));
      const me = await getMe({ client: plain });
      expect(me.error).toBeUndefined();
      expect(me.response.status).toBe(200);
      expect(me.data).toMatchObject({ type: kind });
    }
  });

  it('reads a 413 and a 404 as typed problem details', async () => {
    const product = await createProduct({ client, body: { name: 'Too large' } });
    const tooLarge = await upload(product.data!.id, await pngFile('huge.png', 200, 200, true));
    expect(tooLarge.response.status).toBe(413);
    expect(tooLarge.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const uploadDocuments413: Documented<UploadProductImageErrors, 413> = true;
    expect(uploadDocuments413).toBe(true);
    const problem = tooLarge.error as ErrorOf<UploadProductImageErrors, 413>;
    expect(problem).toMatchObject({ status: 413, code: 'file_too_large' });

    const missing = await getProduct({ client, path: { productId: 'AAAAAAAAAAAAAAAAAAAAAA' } });
    expect(missing.response.status).toBe(404);
    const getDocuments404: Documented<GetProductErrors, 404> = true;
    expect(getDocuments404).toBe(true);
    const notFound = missing.error as ErrorOf<GetProductErrors, 404>;
    expect(notFound).toMatchObject({ status: 404, code: 'product_not_found' });
  });
});
