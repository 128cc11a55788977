import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { abortReason } from '../../common/concurrency/abort-reason';

/**
 * Renders a sanitised SVG to pixels in a child process, under a deadline and a memory ceiling.
 *
 * Why a process: what an SVG costs to render is bounded neither by its bytes nor by its pixels.
 * Measured here with librsvg (through sharp): 4,000 characters of text on one line took 1.7 s,
 * 40,000 took 97 s, 5 MB of text grew past 15 GB; a 6000×6000 rectangle with a wide blur ran for
 * minutes; an 8000×5000 drawing with a blur of 5 px took 69 s and 1 GB. librsvg offers no way to
 * stop a render, a worker thread cannot be stopped in native code, and the render would hold a
 * processing slot (and the service's memory) all along. A child process can be killed: it is, at
 * the deadline or when its resident memory passes the ceiling, and the service goes on.
 *
 * The child is svg-render.child.cjs (plain JavaScript, so that it runs from src/ and dist/ alike).
 * It costs a process start, paid by SVGs alone: about 0.2 s of CPU and of wall time (measured
 * here: Node starting, 0.08 s; sharp and librsvg loading, the rest).
 */

export interface SvgRenderLimits {
  /** The most pixels rendered: a larger SVG is measured, not rendered. */
  maxPixels: number;
  /** The render must end within this, else it is killed. */
  timeoutMs: number;
  /** The child's resident memory must stay under this, else it is killed. */
  maxBytes: number;
}

/** An SVG's size at 72 dpi and, when within maxPixels, its pixels. */
export interface SvgRendered {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  /** Absent when width × height is over maxPixels. */
  data?: Buffer;
}

/**
 * Why a render was given up: too slow, too big in memory, past librsvg's limit of referenced
 * elements (`references`), a size under one pixel (`subpixel`), or an SVG librsvg could not read.
 */
export type SvgRenderFailure = 'timeout' | 'memory' | 'references' | 'subpixel' | 'unreadable';

export class SvgRenderError extends Error {
  override name = 'SvgRenderError';

  constructor(readonly reason: SvgRenderFailure) {
    super(`SVG render failed (${reason})`);
  }
}

const CHILD = join(__dirname, 'svg-render.child.cjs');
const CANCELLED = 'The SVG render was cancelled';
/** The child's exit code when librsvg stops at its limit of referenced elements. */
const TOO_MANY_REFERENCES = 3;
/** The child's exit code when the SVG's width or height comes to less than a pixel. */
const UNDER_ONE_PIXEL = 4;
/** The child's exit code when librsvg cannot read or render the SVG. */
const RENDER_FAILED = 2;
/** The byte the child sends first, once Node has started and sharp is loaded. */
const READY = 0x52; // 'R'
/** The longest a child may take to get ready, however loaded the machine. */
const STARTUP_MS = 60_000;
/** How often the child's resident memory is read. */
const MEMORY_POLL_MS = 20;
/**
 * What the child inherits of the environment: what fonts and locale need, never a secret of the
 * service's (nor NODE_OPTIONS, which could start it with an inspector or a preload).
 */
const CHILD_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'XDG_CACHE_HOME', 'FONTCONFIG_PATH'];

/**
 * Renders `svg` (sanitised) in a child process; SvgRenderError when it fails or is killed. The
 * deadline counts the render alone, from the child's ready byte: starting Node and loading sharp
 * took over a second on a loaded machine (CI), which is not the SVG's doing. A child that does not
 * get ready within STARTUP_MS is killed too, and that is the service's failure (a plain Error).
 * `signal`: once it aborts (nobody waits for the result any more), the child is killed at once
 * and the call rejects with its reason, rather than holding its processing slot and a process up
 * to the deadline; already aborted, no child is started.
 */
export function renderSvg(
  svg: Buffer,
  limits: SvgRenderLimits,
  signal?: AbortSignal,
): Promise<SvgRendered> {
  if (signal?.aborted) return Promise.reject(abortReason(signal, CANCELLED));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, String(limits.maxPixels), String(process.pid)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: childEnv(),
    });
    let killedFor: SvgRenderFailure | 'startup' | 'aborted' | undefined;
    const kill = (reason: SvgRenderFailure | 'startup' | 'aborted'): void => {
      killedFor ??= reason;
      child.kill('SIGKILL');
    };
    const aborted = (): void => kill('aborted');
    signal?.addEventListener('abort', aborted, { once: true });
    let deadline = setTimeout(() => kill('startup'), STARTUP_MS);
    const watch = watchMemory(child.pid, limits.maxBytes, () => kill('memory'));
    const output = readOutput(child.stdout, MAX_HEADER_BYTES + limits.maxPixels * 4, {
      ready: () => {
        clearTimeout(deadline);
        deadline = setTimeout(() => kill('timeout'), limits.timeoutMs);
      },
      invalid: () => kill('unreadable'),
    });
    const stderr = readStderr(child.stderr);
    // The child may be gone before it read the SVG (killed): its closed pipe is not our error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(svg);
    const stopWatching = (): void => {
      clearTimeout(deadline);
      clearInterval(watch);
      signal?.removeEventListener('abort', aborted);
    };
    // No process started (the executable gone, out of processes): no 'close' may follow.
    child.on('error', (error) => {
      stopWatching();
      reject(error);
    });
    child.on('close', (code, killSignal) => {
      stopWatching();
      if (killedFor === 'startup') {
        return reject(new Error(`The SVG renderer did not start within ${STARTUP_MS} ms`));
      }
      if (killedFor === 'aborted') return reject(abortReason(signal, CANCELLED));
      if (killedFor) return reject(new SvgRenderError(killedFor));
      if (code === 0) {
        const rendered = parseOutput(output(), limits.maxPixels);
        return rendered ? resolve(rendered) : reject(new SvgRenderError('unreadable'));
      }
      if (code === TOO_MANY_REFERENCES) return reject(new SvgRenderError('references'));
      if (code === UNDER_ONE_PIXEL) return reject(new SvgRenderError('subpixel'));
      // librsvg refused the SVG (2), or died on it (a signal: an abort, the kernel's OOM killer).
      if (code === RENDER_FAILED || killSignal) return reject(new SvgRenderError('unreadable'));
      // The child did not run: its script or sharp missing from the build, a broken install.
      reject(new Error(`The SVG renderer exited with code ${code}: ${stderr().trim()}`));
    });
  });
}

/**
 * The child's stdout: its ready byte (reported, and removed), then what it sends, at most `max`
 * bytes; anything else is reported invalid. Returns what has been received.
 */
function readOutput(
  stdout: Readable,
  max: number,
  on: { ready: () => void; invalid: () => void },
): () => Buffer {
  const chunks: Buffer[] = [];
  let received = 0;
  let ready = false;
  stdout.on('data', (data: Buffer) => {
    let chunk = data;
    if (!ready) {
      if (chunk[0] !== READY) return on.invalid();
      ready = true;
      on.ready();
      chunk = chunk.subarray(1);
    }
    received += chunk.length;
    if (received > max) on.invalid();
    else chunks.push(chunk);
  });
  return () => Buffer.concat(chunks);
}

/** The first 2,000 characters of the child's stderr: the message of a child that did not run. */
function readStderr(stderr: Readable): () => string {
  let text = '';
  stderr.setEncoding('utf8');
  stderr.on('data', (data: string) => {
    if (text.length < 2000) text += data;
  });
  return () => text;
}

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of CHILD_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

/**
 * Reads the child's resident memory (VmRSS, Linux's /proc) every few milliseconds and calls
 * `over` past `maxBytes`. Where there is no /proc, the deadline alone bounds a render.
 */
function watchMemory(pid: number | undefined, maxBytes: number, over: () => void): NodeJS.Timeout {
  let reading = false;
  return setInterval(() => {
    if (pid === undefined || reading) return;
    reading = true;
    readFile(`/proc/${pid}/status`, 'latin1')
      .then((status) => {
        const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status);
        if (kib && Number(kib[1]) * 1024 > maxBytes) over();
      })
      .catch(() => undefined) // the child has ended
      .finally(() => {
        reading = false;
      });
  }, MEMORY_POLL_MS);
}

/** The most bytes of the child's header (a length, then JSON). */
const MAX_HEADER_BYTES = 4 + 1024;

/**
 * The child's stdout: a 4-byte length and the header as JSON, then exactly width × height ×
 * channels bytes of pixels when width × height is within `maxPixels`, none otherwise.
 */
function parseOutput(output: Buffer, maxPixels: number): SvgRendered | undefined {
  if (output.length < 4) return undefined;
  const length = output.readUInt32BE(0);
  if (4 + length > MAX_HEADER_BYTES || output.length < 4 + length) return undefined;
  const header = parseHeader(output.subarray(4, 4 + length).toString('utf8'));
  if (!header) return undefined;
  const { width, height, channels } = header;
  const pixels = output.subarray(4 + length);
  if (width * height > maxPixels) return pixels.length === 0 ? header : undefined;
  return pixels.length === width * height * channels ? { ...header, data: pixels } : undefined;
}

function parseHeader(text: string): Omit<SvgRendered, 'data'> | undefined {
  try {
    const { width, height, channels } = JSON.parse(text) as Record<string, unknown>;
    const size = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1;
    if (!size(width) || !size(height)) return undefined;
    if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) return undefined;
    return { width, height, channels };
  } catch {
    return undefined;
  }
}
