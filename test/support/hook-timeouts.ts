/**
 * setupFilesAfterEnv of the e2e project: a file's `beforeAll` and `afterAll` get three times a
 * test's time (testTimeout, 60 s) unless they name their own. A file's set-up serves every test in
 * it, so when it times out on a loaded machine, Jest fails each of them with the same error (one
 * 60 s start-up once failed 219 tests): the set-up gets the room, a test keeps the tighter limit
 * and fails alone. Set-up is cheap (a migrated database copied from the run's template); this is
 * for the machine that is busy with something else.
 */
export const HOOK_TIMEOUT_MS = 180_000;

for (const name of ['beforeAll', 'afterAll'] as const) {
  const hook = globalThis[name];
  globalThis[name] = ((fn: Parameters<typeof hook>[0], timeout?: number) =>
    hook(fn, timeout ?? HOOK_TIMEOUT_MS)) as typeof hook;
}
