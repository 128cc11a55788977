import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const IDEMPOTENCY_CONFIG = Symbol('IDEMPOTENCY_CONFIG');

/** How long an Idempotency-Key is remembered, and how long one in flight is waited for. */
const IDEMPOTENCY_SETTINGS = [
  'IDEMPOTENCY_KEY_TTL_HOURS',
  'IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS',
] as const;

export type IdempotencyConfig = ConfigSlice<(typeof IDEMPOTENCY_SETTINGS)[number]>;

export const idempotencyConfigProvider = configSliceProvider(
  IDEMPOTENCY_CONFIG,
  IDEMPOTENCY_SETTINGS,
);
