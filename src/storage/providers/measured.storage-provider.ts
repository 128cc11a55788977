import { performance } from 'node:perf_hooks';
import { CALL_OPTIONS_AT, type StorageProvider } from '../storage-provider';

/**
 * How an operation ended: `aborted`, rejected once its caller's own CallOptions.signal aborted
 * (the clients a transform's read was for all gone): not the storage failing, so not counted as
 * an error. A deadline passing (StorageTimeoutError) aborts the deadline's own signal, not the
 * caller's: an error.
 */
export type StorageOutcome = 'ok' | 'error' | 'aborted';

/** Where a measured provider reports each operation it ran. */
export interface StorageObserver {
  observeStorage(
    provider: string,
    operation: string,
    seconds: number,
    outcome: StorageOutcome,
  ): void;
}

/**
 * The operations that reach the storage. Making a URL (`url`, and Cloudinary's delivery URLs) is
 * left out: it is local work (signing at most), done dozens of times for one gallery page.
 */
const MEASURED: ReadonlySet<string> = new Set([
  'put',
  'delete',
  'exists',
  'list',
  'read',
  'serve',
  'check',
]);

type Method = (...args: unknown[]) => unknown;

/**
 * The provider as it is, each storage operation timed and its failure counted, by provider and
 * operation (storage_operation_duration_seconds, storage_operation_errors_total). A Proxy rather
 * than a class implementing StorageProvider: the image strategies also call their provider's own
 * methods (Cloudinary's delivery URLs), which pass through it unchanged, type included; the
 * providers themselves know nothing of metrics. `list` is timed while the storage is waited for,
 * not while the caller handles each object between pages.
 */
export function measuredStorage<P extends StorageProvider>(
  provider: P,
  observer: StorageObserver,
): P {
  const wrappers = new Map<string, { original: Method; measured: Method }>();
  return new Proxy(provider, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== 'string' || !MEASURED.has(property) || typeof value !== 'function') {
        return value;
      }
      let wrapper = wrappers.get(property);
      if (wrapper?.original !== value) {
        const original = value as Method;
        const report = (seconds: number, outcome: StorageOutcome) =>
          observer.observeStorage(target.driver, property, seconds, outcome);
        wrapper = {
          original,
          measured: measure(original.bind(target), report, CALL_OPTIONS_AT[property]),
        };
        wrappers.set(property, wrapper);
      }
      return wrapper.measured;
    },
  });
}

type Report = (seconds: number, outcome: StorageOutcome) => void;

function measure(call: Method, report: Report, optionsAt: number | undefined): Method {
  return (...args) => {
    const started = performance.now();
    const result = call(...args);
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => {
          report((performance.now() - started) / 1000, 'ok');
          return value;
        },
        (error: unknown) => {
          const options = optionsAt === undefined ? undefined : args[optionsAt];
          const signal = (options as { signal?: AbortSignal } | undefined)?.signal;
          report((performance.now() - started) / 1000, signal?.aborted ? 'aborted' : 'error');
          throw error;
        },
      );
    }
    if (isAsyncIterable(result)) return measuredIteration(result, report);
    return result;
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator] === 'function';
}

/** A listing, timed over the waits for its pages, reported once when it ends, fails or is left. */
function measuredIteration<T>(source: AsyncIterable<T>, report: Report): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const iterator = source[Symbol.asyncIterator]();
      let waited = 0;
      let reported = false;
      const end = (failed: boolean) => {
        if (!reported) report(waited / 1000, failed ? 'error' : 'ok');
        reported = true;
      };
      return {
        async next() {
          const started = performance.now();
          try {
            const step = await iterator.next();
            waited += performance.now() - started;
            if (step.done) end(false);
            return step;
          } catch (error) {
            waited += performance.now() - started;
            end(true);
            throw error;
          }
        },
        async return(value?: unknown) {
          end(false);
          return iterator.return
            ? iterator.return(value)
            : { done: true as const, value: value as T };
        },
      };
    },
  };
}
