import type { EnvironmentVariables } from '../../config/env.validation';
import { configSliceOf, configSliceProvider, type ConfigSlice } from '../../config/config-slice';

export const LOGGING_CONFIG = Symbol('LOGGING_CONFIG');

const LOGGING_SETTINGS = ['LOG_LEVEL', 'LOG_FORMAT'] as const;

/** The settings of the logger. */
export type LoggingConfig = ConfigSlice<(typeof LOGGING_SETTINGS)[number]>;

export const loggingConfigProvider = configSliceProvider(LOGGING_CONFIG, LOGGING_SETTINGS);

/**
 * The logging slice of `env` before Nest starts (the application's logger is made first): the
 * same object the provider gives LoggingModule, so both find the one logger built for it.
 */
export function loggingConfigOf(env: EnvironmentVariables): LoggingConfig {
  return configSliceOf(env, LOGGING_SETTINGS);
}
