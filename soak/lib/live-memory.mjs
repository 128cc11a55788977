// What an instance still holds: once a minute, a full garbage collection is run in it through its
// inspector (the instance is started with --inspect on a loopback port), and then its resident
// memory (VmRSS) and its JavaScript heap in use are read. These are the samples a leak grows.
//
// Why not the RSS and heap read every few seconds (lib/rss.mjs)? Between collections they also
// count garbage not yet collected: how much depends on when V8 chose to collect, which depends on
// the load of the machine, so their slopes swing from run to run (-7.5 to +12 MB/min on this
// shared 2-core machine with nothing held). Image buffers (sharp's output, the uploads' chunks)
// are freed only when the Buffer objects holding them are collected, so a collection first gives
// RSS too a fixed point to be read at. Node has no API to ask another process for a collection
// but the inspector's: HeapProfiler.collectGarbage, over the DevTools protocol's WebSocket.

import { rssBytes } from '../../bench/lib/processes.mjs';
import { afterWarmUp, slope } from './rss.mjs';

const EVERY_MS = 60_000;

export class LiveMemorySampler {
  /** `service`: an instance started with `--inspect=127.0.0.1:<inspectPort>`, never restarted. */
  constructor(service, inspectPort) {
    this.samples = [];
    this.errors = 0;
    const sample = async () => {
      try {
        const heap = await collectAndMeasure(inspectPort);
        const rss = rssBytes(service.pid);
        if (rss !== null) this.samples.push([performance.now() / 60_000, rss / 1e6, heap / 1e6]);
      } catch {
        this.errors += 1;
      }
    };
    this.running = sample();
    this.timer = setInterval(() => (this.running = sample()), EVERY_MS);
  }

  /**
   * Stops sampling; the readings after the first third (the warm-up), how many failed, and the
   * slopes (MB/min) of RSS and of the heap through those readings.
   */
  async stop() {
    clearInterval(this.timer);
    await this.running;
    const after = afterWarmUp(this.samples);
    return {
      readings: after.length,
      errors: this.errors,
      rssSlope: slope(
        after.map(([t, rss]) => [t, rss]),
        3,
      ),
      heapSlope: slope(
        after.map(([t, , heap]) => [t, heap]),
        3,
      ),
    };
  }
}

/** Runs a full collection in the process behind the inspector, then reads its heap in use. */
async function collectAndMeasure(port) {
  const targets = await (
    await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(5000) })
  ).json();
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
  try {
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error('inspector refused the connection'));
    });
    const call = protocol(socket);
    await call('HeapProfiler.collectGarbage');
    const { usedSize } = await call('Runtime.getHeapUsage');
    return usedSize;
  } finally {
    socket.close();
  }
}

/** A DevTools protocol client over `socket`: call(method) resolves with the method's result. */
function protocol(socket) {
  let next = 0;
  const pending = new Map();
  socket.onmessage = ({ data }) => {
    const message = JSON.parse(String(data));
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  };
  return (method) =>
    new Promise((resolve, reject) => {
      const id = (next += 1);
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method }));
      setTimeout(() => {
        if (pending.delete(id)) reject(new Error(`${method}: no answer`));
      }, 30_000).unref();
    });
}
