import type { FactoryProvider } from '@nestjs/common';
import { EnvironmentVariables } from './env.validation';

/**
 * The settings one module reads: a typed, frozen subset of the validated environment. Each module
 * declares its slice next to itself (`<module>.config.ts`: a token, a `Pick` of the variables it
 * needs and the provider made here), and its classes inject that slice rather than the whole
 * environment. The variables keep their names, so an operator's `STORAGE_DRIVER` is the code's
 * `config.STORAGE_DRIVER`, and a module's dependence on a setting is visible in one line.
 */
export type ConfigSlice<K extends keyof EnvironmentVariables> = Readonly<
  Pick<EnvironmentVariables, K>
>;

/** Copies only `keys` out of the environment, so nothing else is reachable through the slice. */
export function pickConfig<K extends keyof EnvironmentVariables>(
  env: EnvironmentVariables,
  keys: readonly K[],
): ConfigSlice<K> {
  const slice = {} as Pick<EnvironmentVariables, K>;
  for (const key of keys) slice[key] = env[key];
  return Object.freeze(slice);
}

const slices = new WeakMap<EnvironmentVariables, Map<readonly unknown[], object>>();

/**
 * The slice `keys` of `env`, made once: every caller with the same environment and the same list
 * of settings gets the same object, whether Nest's provider or code that runs before Nest starts
 * (the logger, which caches what it builds by its configuration, is made before the application).
 */
export function configSliceOf<K extends keyof EnvironmentVariables>(
  env: EnvironmentVariables,
  keys: readonly K[],
): ConfigSlice<K> {
  let byKeys = slices.get(env);
  if (!byKeys) slices.set(env, (byKeys = new Map<readonly unknown[], object>()));
  const slice = byKeys.get(keys) ?? pickConfig(env, keys);
  byKeys.set(keys, slice);
  return slice as ConfigSlice<K>;
}

/** The provider of a module's slice under `token`, from the global EnvironmentVariables. */
export function configSliceProvider<K extends keyof EnvironmentVariables>(
  token: symbol,
  keys: readonly K[],
): FactoryProvider<ConfigSlice<K>> {
  return {
    provide: token,
    inject: [EnvironmentVariables],
    useFactory: (env: EnvironmentVariables) => configSliceOf(env, keys),
  };
}
