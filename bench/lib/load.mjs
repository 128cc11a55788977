// Load: autocannon for request rates (bounded by a count or a time, and always by a deadline), and
// plain node:http for the few huge bodies whose every answer and timing is checked.
import { request } from 'node:http';
import autocannon from 'autocannon';
import { loadAverage } from './processes.mjs';

/**
 * One autocannon run against `url`. `amount` bounds the requests (else `seconds` the time);
 * `deadlineSeconds` stops it whatever is left. `ok` are the statuses that count as answered.
 *
 * The rate is the answers over the time from the start to the last answer, timed here: autocannon
 * notices the end of a run only at its next one-second tick, so its own duration is a whole number
 * of seconds after the last answer of a run bounded by a count (4 uploads answered in 1.3 s were
 * "4 in 2 s": every rate came out a fixed schedule, 2.0 or 4.0 images/s).
 */
export function hammer({
  url,
  connections = 1,
  amount,
  seconds = 3,
  deadlineSeconds = 120,
  method = 'GET',
  headers = {},
  body,
  ok = [200],
}) {
  return new Promise((resolve, reject) => {
    const load = loadAverage();
    let deadline;
    const bound = amount ? { amount } : { duration: seconds };
    const started = performance.now();
    let lastAnswer = started;
    // Each expected answer's time, in fractional ms: autocannon's own percentiles come from a
    // histogram of whole milliseconds, so a p50 of 3 or 4 ms moved in 25-33 % steps.
    const times = [];
    const instance = autocannon(
      { url, connections, ...bound, method, headers, body, timeout: deadlineSeconds },
      (error, result) => {
        clearTimeout(deadline);
        if (error) return reject(error);
        const elapsed = (lastAnswer - started) / 1000;
        const statuses = Object.fromEntries(
          Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [
            code,
            Number(count),
          ]),
        );
        const answered = ok.reduce((sum, code) => sum + (statuses[code] ?? 0), 0);
        // A run bounded by time that ended before any answer at all, without an error, is slow
        // (a deep page under load), not broken: `answered` 0 tells the caller.
        const slow = !amount && Object.keys(statuses).length === 0 && result.errors === 0;
        // Not one expected answer otherwise: the harness or the service is broken, not slow.
        if (answered === 0 && !slow) {
          const seen = JSON.stringify(statuses);
          return reject(
            new Error(`${method} ${url}: no ${ok} answer (${seen}, ${result.errors} errors)`),
          );
        }
        resolve({
          requests: result.requests.total,
          answered,
          statuses,
          errors: result.errors,
          timeouts: result.timeouts,
          seconds: elapsed,
          rps: answered === 0 ? 0 : answered / elapsed,
          p50: times.length ? quantile(times, 0.5) : result.latency.p50,
          p99: times.length ? quantile(times, 0.99) : result.latency.p99,
          max: result.latency.max,
          load,
        });
      },
    );
    instance.on('response', (client, status, bytes, ms) => {
      lastAnswer = performance.now();
      if (ok.includes(status)) times.push(ms);
    });
    deadline = setTimeout(() => instance.stop(), deadlineSeconds * 1000);
  });
}

/** The `q` quantile (0-1) of `values` by nearest rank, as HDR histograms report percentiles. */
function quantile(values, q) {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/**
 * POSTs a multipart body of `head`, then `bytes` of `chunk` repeated (chunked: no length announced,
 * so the server must count), then `end`; stops sending once an answer arrives. Resolves with the
 * status, the Retry-After header, the time to the answer and the bytes sent by then.
 */
export function postStream({ url, headers, head, chunk, bytes, end, timeoutMs = 120_000 }) {
  return new Promise((resolve) => {
    const started = performance.now();
    let sent = 0;
    let done = false;
    const finish = (outcome) => {
      if (done) return;
      done = true;
      req.destroy();
      resolve({ ...outcome, ms: performance.now() - started, sent });
    };
    const req = request(url, { method: 'POST', headers, timeout: timeoutMs }, (res) => {
      const parts = [];
      res.on('data', (part) => parts.push(part));
      res.on('end', () =>
        finish({
          status: res.statusCode,
          retryAfter: res.headers['retry-after'] ?? null,
          body: Buffer.concat(parts).toString('utf8').slice(0, 300),
        }),
      );
      res.on('error', () =>
        finish({ status: res.statusCode, retryAfter: res.headers['retry-after'] ?? null }),
      );
    });
    req.on('error', (error) => finish({ status: null, error: error.code ?? error.message }));
    req.on('timeout', () => finish({ status: null, error: 'timeout' }));
    void (async () => {
      const write = (buffer) =>
        new Promise((ok) => {
          if (done) return ok();
          sent += buffer.length;
          if (req.write(buffer)) ok();
          else req.once('drain', ok);
        });
      await write(head);
      for (let left = bytes; left > 0 && !done; left -= chunk.length) {
        await write(left >= chunk.length ? chunk : chunk.subarray(0, left));
      }
      if (!done) {
        await write(end);
        req.end();
      }
    })();
  });
}
