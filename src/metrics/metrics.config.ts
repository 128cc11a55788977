import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const METRICS_CONFIG = Symbol('METRICS_CONFIG');

const METRICS_SETTINGS = [
  'METRICS_TOKEN',
  // The pool's size, and whether there is a pool at all (the embedded database has one session).
  'DATABASE_URL',
  'DATABASE_POOL_SIZE',
] as const;

/** The settings metrics/ reads. */
export type MetricsConfig = ConfigSlice<(typeof METRICS_SETTINGS)[number]>;

export const metricsConfigProvider = configSliceProvider(METRICS_CONFIG, METRICS_SETTINGS);
