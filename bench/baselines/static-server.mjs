// @fastify/static serving the service's local storage directory under /media: what the service's
// /media route is measured against (same files, same prefix, its default caching headers).
//
// Environment: PORT, MEDIA_DIR.
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';

const app = Fastify({ logger: false });
await app.register(fastifyStatic, { root: process.env.MEDIA_DIR, prefix: '/media/' });
app.get('/ready', async () => ({ ok: true }));
// Stopped by the bench with SIGTERM: exit normally, so that a --profile run writes its profile.
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
