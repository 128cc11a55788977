import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const HEALTH_CONFIG = Symbol('HEALTH_CONFIG');

const HEALTH_SETTINGS = [
  // Readiness checks that the upload spool (<DATA_DIR>/tmp/uploads) can be written.
  'DATA_DIR',
] as const;

/** The settings health/ reads. */
export type HealthConfig = ConfigSlice<(typeof HEALTH_SETTINGS)[number]>;

export const healthConfigProvider = configSliceProvider(HEALTH_CONFIG, HEALTH_SETTINGS);
