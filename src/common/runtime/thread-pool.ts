import { availableParallelism } from 'node:os';

/** Threads of libuv's pool kept for everything besides image work (files, DNS, hashing). */
export const THREADS_BESIDE_IMAGES = 4;
/** libuv's own ceiling on its pool. */
const MOST_THREADS = 1024;

/**
 * The UV_THREADPOOL_SIZE to set, or undefined to leave the environment as it is (an operator's
 * own value is kept). libuv's pool (4 threads unless told otherwise) runs sharp's work beside
 * every asynchronous file read and write, DNS lookup and argon2 hash: with as many images
 * processed at once as it has threads, each long decode holds one, and a /media read or an
 * upload's spool write waits until one ends. So: the images processed at once
 * (IMAGE_PROCESSING_CONCURRENCY, read raw here: it is validated later, and a value it would refuse
 * stops the start anyway) plus {@link THREADS_BESIDE_IMAGES}.
 */
export function threadPoolSize(
  env: Readonly<Record<string, string | undefined>>,
  cores = availableParallelism(),
): string | undefined {
  if (env.UV_THREADPOOL_SIZE?.trim()) return undefined;
  const raw = env.IMAGE_PROCESSING_CONCURRENCY?.trim();
  const configured = raw && /^\d{1,4}$/.test(raw) ? Number(raw) : 0;
  const images = configured >= 1 ? configured : Math.min(64, cores);
  return String(Math.min(MOST_THREADS, images + THREADS_BESIDE_IMAGES));
}
