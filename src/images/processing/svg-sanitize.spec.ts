import type { Worker } from 'node:worker_threads';
import { sanitizeSvgOffLoop } from './svg-sanitize';
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
});
