import { fork } from 'node:child_process';
import { extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { abortReason } from '../../common/concurrency/abort-reason';
import { type SvgRejection, SvgRejectedError } from './svg-sanitizer';

const CANCELLED = 'The SVG check was cancelled';

/**
 * The child's entry, plain CommonJS (see it for why), and the sanitiser module it loads: the
 * compiled svg-sanitizer.js in dist/, svg-sanitizer.ts under the tests (this file's extension).
 */
const CHILD = join(__dirname, 'svg-sanitize.child.cjs');
const SANITIZER = join(__dirname, `svg-sanitizer${extname(__filename)}`);

type Reply = { output: Uint8Array } | { reason: SvgRejection; detail: string } | { error: string };

/** What V8 writes to stderr as it ends a process that outgrew its heap (then it aborts). */
const OUT_OF_HEAP = /heap out of memory|Reached heap limit/;
/** The most of the child's stderr kept: V8's message comes first. */
const MAX_STDERR = 64 * 1024;

/**
 * The child's old-generation heap, in MiB, for uploads of up to 15 MiB (see svgSanitizerHeapMb
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
 * The child's heap for uploads of at most `maxUploadBytes` (MAX_UPLOAD_BYTES):
 * SVG_SANITIZER_HEAP_MB up to 15 MiB, 4 MiB more for each MiB beyond. Sized so that an SVG
 * within MAX_UPLOAD_BYTES and MAX_SVG_MARKUP is checked whole: the limit is a backstop, and one
 * to stay clear of, since a check that reaches it is refused (image_too_complex), its process
 * ended. (A worker thread, as the check once ran in, that outgrew its heap by more than V8's last
 * allowance in one allocation, a long string, took the whole service down with it.) Pure.
 */
export function svgSanitizerHeapMb(maxUploadBytes: number): number {
  const beyond = Math.max(0, Math.ceil(maxUploadBytes / 1024 ** 2) - MEASURED_UPLOAD_MB);
  return SVG_SANITIZER_HEAP_MB + HEAP_MB_PER_UPLOAD_MB * beyond;
}

/** The sanitiser's child outgrew its heap (svgSanitizerHeapMb): the SVG is too complex. */
export class SvgTooMuchMemoryError extends Error {
  constructor(readonly heapMb: number) {
    super(`Checking the SVG took more than ${heapMb} MiB of memory`);
    this.name = 'SvgTooMuchMemoryError';
  }
}

export interface SanitizeOffLoopOptions {
  /** Ends the child at once (its upload was cancelled): the call rejects with the reason. */
  signal?: AbortSignal;
  /** The child's heap limit (see svgSanitizerHeapMb); SVG_SANITIZER_HEAP_MB otherwise. */
  heapMb?: number;
}

/**
 * sanitizeSvg (same result, same SvgRejectedError) run in a child process of its own, under a heap
 * limit (`heapMb`: see svgSanitizerHeapMb): an SVG at MAX_SVG_MARKUP took the event loop half a
 * second (over a second on a loaded machine), every other request of the service waiting. A
 * process, not a worker thread: a thread that outgrew its heap in one allocation (a long string:
 * 14 MiB of '>' in one text, written back as '&gt;') ended the whole service, "FATAL ERROR:
 * Reached heap limit", every request in flight with it; a process that does ends alone, and is an
 * SvgTooMuchMemoryError (400 image_too_complex). Measured (a loaded machine of 2 CPUs, 20 small
 * SVGs): about 120 ms of wall time each, a thread's 80 to 110, the same CPU in all, 2.5 ms of it
 * the service's (70 with a thread), small beside the render's process after. The child is
 * unreferenced, so that it never holds the process open at shutdown, and killed when `signal`
 * aborts. One that ends otherwise without answering (a crash) is an Error, as a failure of
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
    const child = fork(CHILD, [SANITIZER], {
      execArgv: [`--max-old-space-size=${heapMb}`],
      // Nothing of the service's environment: no secret, nor NODE_OPTIONS (an inspector, a preload).
      env: {},
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child.unref();
    child.channel?.unref();
    const stderr = keepStderr(child.stderr);
    let reply: Reply | undefined;
    let aborted: Error | undefined;
    const onAbort = (): void => {
      aborted = abortReason(signal, CANCELLED);
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('message', (message: Reply) => (reply = message));
    // Its own send failing (the child already gone) is answered by its 'close'.
    child.on('error', (error) => {
      if (child.pid === undefined) reject(error);
    });
    child.send(input, () => undefined);
    // Settled once the process has ended and its stderr is read, never while it is still running.
    child.once('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (aborted) return reject(aborted);
      if (!reply && OUT_OF_HEAP.test(stderr())) return reject(new SvgTooMuchMemoryError(heapMb));
      if (!reply) {
        return reject(
          new Error(`The SVG sanitiser's process ended (${killedBy ?? `code ${code}`})`),
        );
      }
      resolve(replied(reply));
    });
  });
}

/** The sanitised SVG of a reply, or the error it stands for. */
function replied(reply: Reply): Promise<Buffer> | Buffer {
  if ('output' in reply) {
    const { buffer, byteOffset, length } = reply.output;
    return Buffer.from(buffer, byteOffset, length);
  }
  if ('reason' in reply) return Promise.reject(new SvgRejectedError(reply.reason, reply.detail));
  return Promise.reject(new Error(reply.error));
}

/** The first MAX_STDERR bytes of the child's stderr, read as they come; its pipe unreferenced. */
function keepStderr(stream: (Readable & { unref?: () => void }) | null): () => string {
  const chunks: Buffer[] = [];
  let kept = 0;
  // A pipe (a socket) is what Node gives: it must not hold the process open either.
  stream?.unref?.();
  stream?.on('data', (chunk: Buffer) => {
    if (kept >= MAX_STDERR) return;
    chunks.push(chunk);
    kept += chunk.length;
  });
  return () => Buffer.concat(chunks).toString('utf8', 0, MAX_STDERR);
}
