import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const IDEMPOTENCY_CONFIG = Symbol('IDEMPOTENCY_CONFIG');

/** How long an Idempotency-Key is remembered. */
const IDEMPOTENCY_SETTINGS = ['IDEMPOTENCY_KEY_TTL_HOURS'] as const;

export type IdempotencyConfig = ConfigSlice<(typeof IDEMPOTENCY_SETTINGS)[number]>;

export const idempotencyConfigProvider = configSliceProvider(
  IDEMPOTENCY_CONFIG,
  IDEMPOTENCY_SETTINGS,
);
