import type { Worker } from 'node:worker_threads';
import { SVG_SANITIZER_HEAP_MB, sanitizeSvgOffLoop, SvgTooMuchMemoryError } from './svg-sanitize';
import { sanitizeSvg, SvgRejectedError } from './svg-sanitizer';

// The module itself, the object svg-sanitize.ts reads Worker from (an `import *` is a copy).
const workerThreads =
  jest.requireActual<typeof import('node:worker_threads')>('node:worker_threads');
const RealWorker = workerThreads.Worker;

/** The workers sanitizeSvgOffLoop starts, each made by `make` (the real one by default). */
function watchWorkers(
  make = (...args: ConstructorParameters<typeof RealWorker>) => new RealWorker(...args),
) {
  const started: Worker[] = [];
  const spy = jest.spyOn(workerThreads, 'Worker').mockImplementation((...args) => {
    const worker = make(...args);
    started.push(worker);
    return worker;
  });
  return { started, restore: () => spy.mockRestore() };
}

const SMALL = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><rect width="1"/></svg>');

/** Whether a worker's thread has ended (Node sets its threadId to -1 then). */
const ended = (worker: Worker): boolean => worker.threadId === -1;

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

  it('gives what sanitizeSvg gives, from a thread that has ended when it answers', async () => {
    const workers = watchWorkers();
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
    expect(workers.started.map(ended)).toEqual([true, true]);
  });

  it.each([
    ['exits', 'process.exit(3)', "The SVG sanitiser's worker ended (code 3)"],
    ['throws', 'throw new Error("crashed")', 'crashed'],
  ])(
    'fails with an Error, its thread gone, when the worker %s without answering',
    async (_, code, message) => {
      const workers = watchWorkers(() => new RealWorker(code, { eval: true }));

      const error = await sanitizeSvgOffLoop(Buffer.from('<svg/>')).catch((e: unknown) => e);

      // A plain error (a 500), not a refusal; the thrown one comes from Node's realm, not Jest's.
      expect(error).not.toBeInstanceOf(SvgRejectedError);
      expect(error).toMatchObject({ message });
      expect(workers.started.map(ended)).toEqual([true]);
    },
  );

  it('runs its worker under a heap limit: one that dies of it is a refusal, too_complex', async () => {
    const workers = watchWorkers();
    // 2,000 elements of 20 KB of attribute each (40 MB of markup) in a 4 MB heap: past the limit.
    const big = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg">${`<path d="M${'1'.repeat(20_000)}"/>`.repeat(2_000)}</svg>`,
    );

    const error = await sanitizeSvgOffLoop(big, { heapMb: 4 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SvgTooMuchMemoryError);
    expect(workers.started.map(ended)).toEqual([true]);
    // The default limit is set, and is what a worst case within the limits measured, with room.
    const [, options] = (workerThreads.Worker as unknown as jest.Mock).mock.calls[0] as [
      unknown,
      { resourceLimits?: { maxOldGenerationSizeMb?: number } },
    ];
    expect(options.resourceLimits?.maxOldGenerationSizeMb).toBe(4);
    await sanitizeSvgOffLoop(SMALL);
    const [, defaults] = (workerThreads.Worker as unknown as jest.Mock).mock.calls[1] as [
      unknown,
      { resourceLimits?: { maxOldGenerationSizeMb?: number } },
    ];
    expect(defaults.resourceLimits?.maxOldGenerationSizeMb).toBe(SVG_SANITIZER_HEAP_MB);
  });

  it('ends its worker when the call is aborted, rejecting at once with the reason', async () => {
    const workers = watchWorkers(
      () => new RealWorker('setInterval(() => {}, 1000)', { eval: true }),
    );
    const controller = new AbortController();

    const started = Date.now();
    const pending = sanitizeSvgOffLoop(Buffer.from('<svg/>'), { signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    setTimeout(() => controller.abort(new Error('client gone')), 50);
    const error = await pending;

    expect(error).toMatchObject({ message: 'client gone' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(workers.started.map(ended)).toEqual([true]);
    // Aborted before it starts: no worker at all.
    expect(
      await sanitizeSvgOffLoop(Buffer.from('<svg/>'), { signal: AbortSignal.abort() }).catch(
        (e: unknown) => e,
      ),
    ).toBeInstanceOf(Error);
    expect(workers.started).toHaveLength(1);
  });

  it('never holds the process open: its worker is unreferenced', async () => {
    const unref: Worker[] = [];
    const workers = watchWorkers((...args) => {
      const worker = new RealWorker(...args);
      const original = worker.unref.bind(worker);
      worker.unref = () => {
        unref.push(worker);
        original();
      };
      return worker;
    });

    await sanitizeSvgOffLoop(SMALL);

    expect(unref).toEqual(workers.started);
    expect(unref).toHaveLength(1);
  });
});
