import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { abortReason } from '../../common/concurrency/abort-reason';
import { type SvgRejection, SvgRejectedError } from './svg-sanitizer';

const CANCELLED = 'The SVG check was cancelled';

/**
 * The worker's entry, plain CommonJS (see it for why), and the sanitiser module it loads: the
 * compiled svg-sanitizer.js in dist/, svg-sanitizer.ts under the tests (this file's extension).
 */
const WORKER = join(__dirname, 'svg-sanitize.worker.cjs');
const SANITIZER = join(__dirname, `svg-sanitizer${extname(__filename)}`);

type Reply = { output: Uint8Array } | { reason: SvgRejection; detail: string } | { error: string };

/**
 * The worker's old-generation heap, in MiB, for uploads of up to 15 MiB (see svgSanitizerHeapMb
 * for larger ones), and unless the caller gives one. Measured (Node 24, this machine) on the worst SVGs
 * within the limits, MAX_SVG_MARKUP elements and attributes in a body of MAX_UPLOAD_BYTES
 * (15 MiB): 50,000 elements of 300-byte attributes peaked at 226 MiB of heap used in all (young
 * generation and large strings included), 100,000 small ones at 144 MiB, one 15 MiB text at 67
 * MiB; each passed under a 128 MiB old generation. Twice that leaves room for a larger
 * MAX_UPLOAD_BYTES while bounding what one SVG can take of the process.
 */
export const SVG_SANITIZER_HEAP_MB = 256;

/** The upload size SVG_SANITIZER_HEAP_MB was measured for (MAX_UPLOAD_BYTES' default), in MiB. */
const MEASURED_UPLOAD_MB = 15;
/**
 * Heap added for each MiB of MAX_UPLOAD_BYTES beyond MEASURED_UPLOAD_MB: measured (Node 24), a
 * 57 MiB SVG of 3,000 long paths and a 59 MiB one of 49,000 shorter ones were each checked under
 * 452 MiB (64 MiB uploads), and 120 MB of long paths under 256 MiB; the decoded text, its
 * attributes and the output written twice (once to check it reads back the same) are a few
 * copies of the bytes.
 */
const HEAP_MB_PER_UPLOAD_MB = 4;

/**
 * The worker's heap for uploads of at most `maxUploadBytes` (MAX_UPLOAD_BYTES):
 * SVG_SANITIZER_HEAP_MB up to 15 MiB, 4 MiB more for each MiB beyond. Sized so that an SVG
 * within MAX_UPLOAD_BYTES and MAX_SVG_MARKUP is checked whole: the limit is a backstop, and one
 * to stay clear of, since a worker that reaches it by more than V8's last allowance in one
 * allocation (a long string) takes the whole process down, not the worker alone (measured: a
 * 200 MB SVG under 256 MiB, a 40 MB one under 16, 48 or 64 MiB). A constant of 256 MiB whatever
 * MAX_UPLOAD_BYTES had left a service taking larger uploads open to that. Pure.
 */
export function svgSanitizerHeapMb(maxUploadBytes: number): number {
  const beyond = Math.max(0, Math.ceil(maxUploadBytes / 1024 ** 2) - MEASURED_UPLOAD_MB);
  return SVG_SANITIZER_HEAP_MB + HEAP_MB_PER_UPLOAD_MB * beyond;
}

/** The sanitiser's worker outgrew its heap (SVG_SANITIZER_HEAP_MB): the SVG is too complex. */
export class SvgTooMuchMemoryError extends Error {
  constructor(readonly heapMb: number) {
    super(`Checking the SVG took more than ${heapMb} MiB of memory`);
    this.name = 'SvgTooMuchMemoryError';
  }
}

export interface SanitizeOffLoopOptions {
  /** Ends the worker at once (its upload was cancelled): the call rejects with the reason. */
  signal?: AbortSignal;
  /** The worker's heap limit (see svgSanitizerHeapMb); SVG_SANITIZER_HEAP_MB otherwise. */
  heapMb?: number;
}

/**
 * sanitizeSvg (same result, same SvgRejectedError) run in a worker thread of its own: an SVG at
 * MAX_SVG_MARKUP took the event loop half a second (over a second on a loaded machine), every
 * other request of the service waiting. A thread per call, not a pool: starting one costs a few
 * tens of milliseconds, small beside rendering the SVG in a child process after, and a thread
 * that ends with its call leaves nothing behind, whatever happens to the upload. The thread runs
 * under its own heap limit (`heapMb`: see svgSanitizerHeapMb): one that dies of it is an
 * SvgTooMuchMemoryError (400 image_too_complex), not the process's memory gone. It is
 * unreferenced, so that it never holds the process open at shutdown, and ended when `signal`
 * aborts. A worker that dies otherwise without answering (a crash) is an Error, as a failure of
 * sanitizeSvg was.
 */
export function sanitizeSvgOffLoop(
  input: Buffer,
  options: SanitizeOffLoopOptions = {},
): Promise<Buffer> {
  const { signal } = options;
  const heapMb = options.heapMb ?? SVG_SANITIZER_HEAP_MB;
  if (signal?.aborted) return Promise.reject(abortReason(signal, CANCELLED));
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, {
      workerData: { module: SANITIZER, input },
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
    });
    worker.unref();
    let reply: Reply | undefined;
    let failure: Error | undefined;
    let aborted: Error | undefined;
    const onAbort = (): void => {
      aborted = abortReason(signal, CANCELLED);
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (message: Reply) => (reply = message));
    worker.once('error', (error) => (failure = error));
    // Settled once the thread has ended, never while it is still running.
    worker.once('exit', (code) => {
      signal?.removeEventListener('abort', onAbort);
      if (aborted) return reject(aborted);
      if (failure && (failure as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        return reject(new SvgTooMuchMemoryError(heapMb));
      }
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
