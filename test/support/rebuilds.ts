import { createApp } from '../../src/app.factory';
import { solidJpeg } from './fixtures';
import { call, login } from './http';
import { multipart } from './multipart';
import { TEST_ADMIN } from './test-app';

/**
 * Starts the app with `env`, uploads one 320×240 JPEG to a new product, and closes it: a catalogue
 * whose renditions a rebuild will make again once the app starts with other IMAGE_RENDITIONS.
 */
export async function catalogueOfOneImage(env: Record<string, string>): Promise<void> {
  const app = await createApp({ env });
  try {
    const admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const product = await call(app, 'POST', '/api/v1/products', admin, { name: 'Rebuilt' });
    const body = multipart({}, [{ data: await solidJpeg(320, 240), contentType: 'image/jpeg' }]);
    const up = await call(
      app,
      'POST',
      `/api/v1/products/${product.json<{ id: string }>().id}/images`,
      admin,
      body.payload,
      { headers: body.headers },
    );
    if (up.statusCode !== 201) throw new Error(`the upload answered ${up.statusCode}: ${up.body}`);
  } finally {
    await app.close();
  }
}
