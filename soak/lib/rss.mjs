// Each instance's resident memory (VmRSS) and JavaScript heap in use every few seconds, and the
// slope of a least-squares line through the samples after the first third of the run (the
// warm-up), in MB per minute. A restarted instance's samples begin again from its restart.
//
// RSS alone cannot tell a leak from the allocator: libvips (sharp) allocates image buffers outside
// the JavaScript heap, and glibc's malloc keeps freed arenas mapped, so RSS can creep while
// nothing is held. The heap in use (prom-client's nodejs_heap_size_used_bytes, read from the
// instance's own protected /metrics) is what a leak of ours would grow.
import { rssBytes } from '../../bench/lib/processes.mjs';

const EVERY_MS = 3000;

export class RssSampler {
  /** `metricsToken`: the instances' METRICS_TOKEN, to read their heap from /metrics. */
  constructor(services, metricsToken) {
    this.series = services.map(() => []);
    this.heap = services.map(() => []);
    this.timer = setInterval(() => {
      services.forEach((service, i) => {
        if (!service.proc || service.proc.exited) return;
        const pid = service.pid;
        const bytes = rssBytes(pid);
        if (bytes === null) return;
        const now = performance.now() / 60_000;
        this.series[i] = append(this.series[i], pid, [now, bytes / 1e6]);
        void heapUsed(service.url, metricsToken).then((heap) => {
          if (heap !== null) this.heap[i] = append(this.heap[i], pid, [now, heap / 1e6]);
        });
      });
    }, EVERY_MS);
  }

  /** Stops sampling; each instance's slopes after warm-up (0 with too few samples). */
  stop() {
    clearInterval(this.timer);
    return this.series.map((samples, i) => ({
      slope: slope(afterWarmUp(samples)),
      heapSlope: slope(afterWarmUp(this.heap[i])),
    }));
  }
}

function append(series, pid, point) {
  const current = series.pid === undefined || series.pid === pid ? series : [];
  current.pid = pid;
  current.push(point);
  return current;
}

export function afterWarmUp(samples) {
  return samples.slice(Math.floor(samples.length / 3));
}

async function heapUsed(url, token) {
  try {
    const response = await fetch(`${url}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(2000),
    });
    const text = await response.text();
    const line = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
    return line ? Number(line[1]) : null;
  } catch {
    // An instance being killed or restarted: no sample.
    return null;
  }
}

/** MB per minute: a least-squares line through [minute, MB] points (0 with fewer than `least`). */
export function slope(points, least = 5) {
  if (points.length < least) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
