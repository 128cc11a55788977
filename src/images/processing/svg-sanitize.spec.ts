import type { ChildProcess, ForkOptions } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SVG_SANITIZER_HEAP_MB, sanitizeSvgOffLoop, SvgTooMuchMemoryError } from './svg-sanitize';
import { sanitizeSvg, SvgRejectedError } from './svg-sanitizer';

// The module itself, the object svg-sanitize.ts reads fork from (an `import *` is a copy).
const childProcesses =
  jest.requireActual<typeof import('node:child_process')>('node:child_process');
const realFork = childProcesses.fork;
type Fork = (modulePath: string, args: readonly string[], options: ForkOptions) => ChildProcess;

/** The children sanitizeSvgOffLoop starts, each made by `make` (the real one by default). */
function watchChildren(make: Fork = (path, args, options) => realFork(path, args, options)) {
  const started: ChildProcess[] = [];
  const options: ForkOptions[] = [];
  const spy = jest.spyOn(childProcesses, 'fork').mockImplementation(((
    path: string,
    args: readonly string[],
    given: ForkOptions,
  ) => {
    const child = make(path, args, given);
    started.push(child);
    options.push(given);
    return child;
  }) as unknown as typeof realFork);
  return { started, options, restore: () => spy.mockRestore() };
}

/** The folders of the fakes' scripts, removed after the file's tests. */
const fakeDirs: string[] = [];
afterAll(() => {
  for (const dir of fakeDirs) rmSync(dir, { recursive: true, force: true });
});

/** A child running `code` in place of the sanitiser, with the options it was given. */
function fake(code: string): Fork {
  const dir = mkdtempSync(join(tmpdir(), 'svg-sanitize-'));
  fakeDirs.push(dir);
  const script = join(dir, 'fake.cjs');
  writeFileSync(script, code);
  return (_path, _args, options) => realFork(script, [], options);
}

const SMALL = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><rect width="1"/></svg>');

/** Whether a child process has ended. */
const ended = (child: ChildProcess): boolean =>
  child.exitCode !== null || child.signalCode !== null;

function catching(run: () => unknown): unknown {
  try {
    return run();
  } catch (error) {
    return error;
  }
}

const facts = (error: unknown) => {
  const { reason, detail, message } = error as SvgRejectedError;
  return { reason, detail, message };
};

describe(sanitizeSvgOffLoop.name, () => {
  afterEach(() => jest.restoreAllMocks());

  it('gives what sanitizeSvg gives, from a process that has ended when it answers', async () => {
    const children = watchChildren();
    const clean = Buffer.from(
      '<?xml version="1.0"?><!-- a comment --><svg xmlns="http://www.w3.org/2000/svg"><rect width="1"/></svg>',
    );
    const dirty = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>');

    expect((await sanitizeSvgOffLoop(clean)).toString()).toBe(sanitizeSvg(clean).toString());
    const refused = await sanitizeSvgOffLoop(dirty).catch((error: unknown) => error);
    const inLoop = catching(() => sanitizeSvg(dirty));
    expect(refused).toBeInstanceOf(SvgRejectedError);
    expect(facts(refused)).toEqual(facts(inLoop));
    expect(facts(refused)).toMatchObject({ reason: 'event_handler' });
    expect(children.started.map(ended)).toEqual([true, true]);
    // Nothing of the service's environment (secrets, NODE_OPTIONS) is handed down.
    expect(children.options.map((o) => o.env)).toEqual([{}, {}]);
  });

  it.each([
    ['exits', 'process.exit(3)', "The SVG sanitiser's process ended (code 3)"],
    ['throws', 'throw new Error("crashed")', "The SVG sanitiser's process ended (code 1)"],
  ])(
    'fails with an Error, its process gone, when the child %s without answering',
    async (_, code, message) => {
      const children = watchChildren(fake(code));

      const error = await sanitizeSvgOffLoop(Buffer.from('<svg/>')).catch((e: unknown) => e);

      // A plain error (a 500), not a refusal.
      expect(error).not.toBeInstanceOf(SvgRejectedError);
      expect(error).not.toBeInstanceOf(SvgTooMuchMemoryError);
      expect(error).toMatchObject({ message });
      expect(children.started.map(ended)).toEqual([true]);
    },
  );

  it('runs its child under a heap limit: one that dies of it is SvgTooMuchMemoryError', async () => {
    const children = watchChildren();
    // 2,000 elements of 20 KB of attribute each (40 MB of markup) in a 16 MiB heap: past the limit.
    const big = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg">${`<path d="M${'1'.repeat(20_000)}"/>`.repeat(2_000)}</svg>`,
    );

    const error = await sanitizeSvgOffLoop(big, { heapMb: 16 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SvgTooMuchMemoryError);
    expect(children.started.map(ended)).toEqual([true]);
    // The default limit is set, and is what a worst case within the limits measured, with room.
    await sanitizeSvgOffLoop(SMALL);
    expect(children.options.map((o) => o.execArgv)).toEqual([
      ['--max-old-space-size=16'],
      [`--max-old-space-size=${SVG_SANITIZER_HEAP_MB}`],
    ]);
  });

  it('survives a check that outgrows its heap in one allocation: a refusal, not the end of the process', async () => {
    // 6 MiB of '>' in one text (3 elements and attributes), written back as '&gt;' in one
    // string: in a worker thread (as the check once ran) under its 256 MiB, past its heap's last
    // allowance at once, it ended the whole process ("FATAL ERROR: Reached heap limit"); a child
    // process ends alone.
    const escaped = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' +
        `<text>${'>'.repeat(6 * 1024 ** 2)}</text></svg>`,
    );

    const error = await sanitizeSvgOffLoop(escaped).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SvgTooMuchMemoryError);
    expect(error).toMatchObject({ heapMb: SVG_SANITIZER_HEAP_MB });
  });

  it('checks a path of 15 MiB of short segments whole under the default heap', async () => {
    // One path of `l1 2 ` to MAX_UPLOAD_BYTES (3 elements and attributes): a vectorised photo may
    // have a path this size. Its 6 million spaces dropped one by one (to look for `java script:`)
    // took 600 MiB of heap, and the SVG was refused as too complex.
    const prefix = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M0 0';
    const segments = Math.floor((15 * 1024 ** 2 - prefix.length - 10) / 5);
    const path = Buffer.from(`${prefix}${' l1 2'.repeat(segments)}"/></svg>`);
    expect(path.length).toBeLessThanOrEqual(15 * 1024 ** 2);

    const output = await sanitizeSvgOffLoop(path);

    expect(output.length).toBeGreaterThan(path.length);
  });

  it('kills its child when the call is aborted, rejecting at once with the reason', async () => {
    const children = watchChildren(fake('setInterval(() => {}, 1000)'));
    const controller = new AbortController();

    const started = Date.now();
    const pending = sanitizeSvgOffLoop(Buffer.from('<svg/>'), { signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    setTimeout(() => controller.abort(new Error('client gone')), 50);
    const error = await pending;

    expect(error).toMatchObject({ message: 'client gone' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(children.started.map(ended)).toEqual([true]);
    // Aborted before it starts: no child at all.
    expect(
      await sanitizeSvgOffLoop(Buffer.from('<svg/>'), { signal: AbortSignal.abort() }).catch(
        (e: unknown) => e,
      ),
    ).toBeInstanceOf(Error);
    expect(children.started).toHaveLength(1);
  });

  it('never holds the process open: its child and their channel are unreferenced', async () => {
    const unref: string[] = [];
    watchChildren((path, args, options) => {
      const child = realFork(path, args, options);
      const original = child.unref.bind(child);
      child.unref = () => {
        unref.push('process');
        original();
      };
      const channel = child.channel!;
      const channelUnref = channel.unref.bind(channel);
      channel.unref = () => {
        unref.push('channel');
        channelUnref();
      };
      return child;
    });

    await sanitizeSvgOffLoop(SMALL);

    expect(unref).toEqual(['process', 'channel']);
  });
});
