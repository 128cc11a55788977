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
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
