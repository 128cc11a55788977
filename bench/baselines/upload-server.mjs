// The frameworkless upload server the service's uploads are measured against: plain Fastify,
// @fastify/multipart and sharp doing the per-image work the service must do (no authentication,
// no database). The upload is streamed to a file and cut at the size limit; the pixel count is
// read from the header; the image is decoded once (upright, sRGB) and the configured WebP
// renditions are made from those pixels; the original's bytes and the renditions are stored as
// files. With BASELINE_MODE=per-rendition each rendition decodes the file again instead (what
// systems that resize every size from the file do; JPEG shrink-on-load makes that cheaper).
//
// Environment: PORT, MEDIA_DIR, SPOOL_DIR, IMAGE_RENDITIONS, IMAGE_PROCESSING_CONCURRENCY,
// MAX_UPLOAD_BYTES, MAX_IMAGE_PIXELS (the service's variables, with its defaults), BASELINE_MODE.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import Fastify from 'fastify';
import sharp from 'sharp';

const env = process.env;
const MEDIA_DIR = env.MEDIA_DIR;
const SPOOL_DIR = env.SPOOL_DIR;
const MAX_UPLOAD_BYTES = Number(env.MAX_UPLOAD_BYTES ?? 15 * 1024 * 1024);
const MAX_IMAGE_PIXELS = Number(env.MAX_IMAGE_PIXELS ?? 40_000_000);
const PER_RENDITION = env.BASELINE_MODE === 'per-rendition';
const PRESETS = (
  env.IMAGE_RENDITIONS ?? 'thumb:150x150:cover,card:500x500:attention,large:1200x1200:inside'
)
  .split(',')
  .map((entry) => {
    const [name, size, fit] = entry.trim().split(':');
    const [width, height] = size.split('x').map(Number);
    return { name, width, height, fit };
  });

sharp.cache(false);

/** At most `limit` images processed at once, as the service's IMAGE_PROCESSING_CONCURRENCY. */
function semaphore(limit) {
  let active = 0;
  const waiting = [];
  return async (work) => {
    if (active >= limit) await new Promise((resolve) => waiting.push(resolve));
    active++;
    try {
      return await work();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
const slot = semaphore(Number(env.IMAGE_PROCESSING_CONCURRENCY ?? 2));

const resizeOptions = (preset) => ({
  fit: preset.fit === 'inside' ? 'inside' : 'cover',
  position: preset.fit === 'attention' ? sharp.strategy.attention : 'centre',
  withoutEnlargement: preset.fit === 'inside',
});

/** Every rendition from one decode. */
async function renditionsFromOneDecode(path) {
  const { data, info } = await sharp(path, { failOn: 'error', limitInputPixels: MAX_IMAGE_PIXELS })
    .rotate()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  const out = [];
  for (const preset of PRESETS) {
    out.push(
      await sharp(data, { raw })
        .resize(preset.width, preset.height, resizeOptions(preset))
        .webp({ quality: 82 })
        .toBuffer(),
    );
  }
  return out;
}

/** Every rendition decoding the file again. */
async function renditionsPerDecode(path) {
  const out = [];
  for (const preset of PRESETS) {
    out.push(
      await sharp(path, { failOn: 'error', limitInputPixels: MAX_IMAGE_PIXELS })
        .rotate()
        .toColourspace('srgb')
        .resize(preset.width, preset.height, resizeOptions(preset))
        .webp({ quality: 82 })
        .toBuffer(),
    );
  }
  return out;
}

async function sha256(path) {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

async function processAndStore(id, spooled) {
  const meta = await sharp(spooled, { limitInputPixels: false }).metadata();
  if (!meta.width || !meta.height) return { status: 400, body: { error: 'invalid_image' } };
  if (meta.width * meta.height > MAX_IMAGE_PIXELS)
    return { status: 400, body: { error: 'image_too_many_pixels' } };
  const renditions = await (PER_RENDITION ? renditionsPerDecode : renditionsFromOneDecode)(spooled);
  const digest = await sha256(spooled);
  const dir = join(MEDIA_DIR, id);
  await mkdir(dir, { recursive: true });
  await rename(spooled, join(dir, `original.${meta.format === 'jpeg' ? 'jpg' : meta.format}`));
  await Promise.all(
    renditions.map((buffer, i) => writeFile(join(dir, `${PRESETS[i].name}.webp`), buffer)),
  );
  return { status: 201, body: { id, width: meta.width, height: meta.height, sha256: digest } };
}

const app = Fastify({ logger: false });
await app.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1 } });

app.post('/upload', async (request, reply) => {
  const file = await request.file();
  if (!file) return reply.code(400).send({ error: 'image_required' });
  const id = randomUUID();
  const spooled = join(SPOOL_DIR, id);
  try {
    await pipeline(file.file, createWriteStream(spooled));
    if (file.file.truncated) return reply.code(413).send({ error: 'file_too_large' });
    const { status, body } = await slot(() => processAndStore(id, spooled));
    return reply.code(status).send(body);
  } finally {
    await rm(spooled, { force: true });
  }
});

app.get('/ready', async () => ({ ok: true }));

// Stopped by the bench with SIGTERM: exit normally, so that a --profile run writes its profile.
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
await mkdir(SPOOL_DIR, { recursive: true });
await app.listen({ port: Number(env.PORT), host: '127.0.0.1' });
