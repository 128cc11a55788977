import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const SHARED_STATE_CONFIG = Symbol('SHARED_STATE_CONFIG');

/** Where the instances of the service keep the state they share: PostgreSQL, or Redis. */
const SHARED_STATE_SETTINGS = ['REDIS_URL', 'REDIS_KEY_PREFIX'] as const;

export type SharedStateConfig = ConfigSlice<(typeof SHARED_STATE_SETTINGS)[number]>;

export const sharedStateConfigProvider = configSliceProvider(
  SHARED_STATE_CONFIG,
  SHARED_STATE_SETTINGS,
);
