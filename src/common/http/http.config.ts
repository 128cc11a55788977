import type { EnvironmentVariables } from '../../config/env.validation';
import { configSliceOf, type ConfigSlice } from '../../config/config-slice';

/** How long a slow client may take to send, or to read (see request-timeouts.ts). */
const HTTP_TIMEOUT_SETTINGS = [
  'HTTP_HEADERS_TIMEOUT_MS',
  'HTTP_REQUEST_TIMEOUT_MS',
  'HTTP_BODY_MIN_BYTES_PER_SECOND',
  'HTTP_KEEP_ALIVE_TIMEOUT_MS',
  'HTTP_SEND_TIMEOUT_MS',
] as const;

/** The settings of the HTTP server's timeouts. */
export type HttpTimeoutsConfig = ConfigSlice<(typeof HTTP_TIMEOUT_SETTINGS)[number]>;

/**
 * The timeouts' slice of `env`. No provider: the server is configured by `createApp` before Nest
 * starts, and no class injects these.
 */
export function httpTimeoutsConfigOf(env: EnvironmentVariables): HttpTimeoutsConfig {
  return configSliceOf(env, HTTP_TIMEOUT_SETTINGS);
}
