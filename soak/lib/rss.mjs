// Each instance's resident memory (VmRSS) every few seconds, and the slope of a least-squares line
// through the samples after the first third of the run (the warm-up), in MB per minute. A restarted
// instance's samples begin again from its restart.
import { rssBytes } from '../../bench/lib/processes.mjs';

const EVERY_MS = 3000;

export class RssSampler {
  constructor(services) {
    this.series = services.map(() => []);
    this.timer = setInterval(() => {
      services.forEach((service, i) => {
        if (!service.proc || service.proc.exited) return;
        const pid = service.pid;
        const bytes = rssBytes(pid);
        if (bytes === null) return;
        let series = this.series[i];
        if (series.pid !== undefined && series.pid !== pid) this.series[i] = series = [];
        series.pid = pid;
        series.push([performance.now() / 60_000, bytes / 1e6]);
      });
    }, EVERY_MS);
  }

  /** Stops sampling; each instance's slope after warm-up (0 with too few samples). */
  stop() {
    clearInterval(this.timer);
    return this.series.map((samples) => ({
      slope: slope(samples.slice(Math.floor(samples.length / 3))),
    }));
  }
}

function slope(points) {
  if (points.length < 5) return 0;
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
