// A minimal sharp-only server: what the service's on-request transforms are measured against, made
// anew for every request. `GET /resize/<width>/<quality>/<key>` reads the original `<key>` from
// MEDIA_DIR (the service's local storage directory: the same file the service makes its results
// from), resizes it to `<width>` px wide (its height following the ratio), upright and in sRGB as
// the service's results, encodes WebP at `<quality>` and answers the bytes. No signature, no
// database, no cache, no storage of the result: the work alone, behind the thinnest HTTP server.
//
// Environment: PORT, MEDIA_DIR.
import { resolve, sep } from 'node:path';
import Fastify from 'fastify';
import sharp from 'sharp';

const MEDIA_DIR = resolve(process.env.MEDIA_DIR);

// As the service: libvips' cache would keep the decoded original between requests.
sharp.cache(false);

const app = Fastify({ logger: false });

app.get('/resize/:width/:quality/*', async (request, reply) => {
  const width = Number(request.params.width);
  const quality = Number(request.params.quality);
  const path = resolve(MEDIA_DIR, request.params['*']);
  if (!path.startsWith(MEDIA_DIR + sep) || !(width > 0) || !(quality > 0)) {
    return reply.code(400).send({ error: 'bad request' });
  }
  const data = await sharp(path)
    .rotate()
    .resize(width)
    .toColourspace('srgb')
    .webp({ quality })
    .toBuffer();
  return reply.type('image/webp').send(data);
});
app.get('/ready', async () => ({ ok: true }));
// Stopped by the bench with SIGTERM: exit normally, so that a --profile run writes its profile.
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
