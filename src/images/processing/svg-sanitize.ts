import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type SvgRejection, SvgRejectedError } from './svg-sanitizer';

/**
 * The worker's entry, plain CommonJS (see it for why), and the sanitiser module it loads: the
 * compiled svg-sanitizer.js in dist/, svg-sanitizer.ts under the tests (this file's extension).
 */
const WORKER = join(__dirname, 'svg-sanitize.worker.cjs');
const SANITIZER = join(__dirname, `svg-sanitizer${extname(__filename)}`);

type Reply = { output: Uint8Array } | { reason: SvgRejection; detail: string } | { error: string };

/**
 * sanitizeSvg (same result, same SvgRejectedError) run in a worker thread of its own: an SVG at
 * MAX_SVG_MARKUP took the event loop half a second (over a second on a loaded machine), every
 * other request of the service waiting. A thread per call, not a pool: starting one costs a few
 * tens of milliseconds, small beside rendering the SVG in a child process after, and a thread
 * that ends with its call leaves nothing behind, whatever happens to the upload. A worker that
 * dies without answering (out of memory, a crash) is an Error, as a failure of sanitizeSvg was.
 */
export function sanitizeSvgOffLoop(input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { module: SANITIZER, input } });
    let reply: Reply | undefined;
    let failure: Error | undefined;
    worker.once('message', (message: Reply) => (reply = message));
    worker.once('error', (error) => (failure = error));
    // Settled once the thread has ended, never while it is still running.
    worker.once('exit', (code) => {
      if (failure) return reject(failure);
      if (!reply) return reject(new Error(`The SVG sanitiser's worker ended (code ${code})`));
      if ('output' in reply) {
        const { buffer, byteOffset, length } = reply.output;
        return resolve(Buffer.from(buffer, byteOffset, length));
      }
      if ('reason' in reply) return reject(new SvgRejectedError(reply.reason, reply.detail));
      reject(new Error(reply.error));
    });
  });
}
