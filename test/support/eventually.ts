/**
 * Waits until `check` holds, asking again every 50 ms, and fails after `ms` naming what was
 * awaited. For outcomes of background work (jobs): a test polls for them with a generous deadline,
 * never sleeps a fixed time.
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what = 'the expected outcome',
  ms = 30_000,
): Promise<void> {
  await eventuallyRead(check, (holds) => holds, what, ms);
}

/**
 * Reads a value every 50 ms until `done` holds for it, and returns that value (a job's state, a
 * run's progress), to be asserted on. Fails after `ms`, naming what was awaited and what was read
 * last.
 */
export async function eventuallyRead<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  what = 'the expected outcome',
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      const last = typeof value === 'boolean' ? '' : `; read last: ${JSON.stringify(value)}`;
      throw new Error(`gave up waiting for ${what}${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
