import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const JOBS_CONFIG = Symbol('JOBS_CONFIG');

const JOBS_SETTINGS = [
  'SERVICE_ROLE',
  'JOB_CONCURRENCY',
  'JOB_POLL_INTERVAL_MS',
  'JOB_HEARTBEAT_SECONDS',
  'SHUTDOWN_TIMEOUT_MS',
  // Without it, the embedded database: pg-boss then runs on PGlite's single session.
  'DATABASE_URL',
] as const;

/** The settings jobs/ reads. */
export type JobsConfig = ConfigSlice<(typeof JOBS_SETTINGS)[number]>;

export const jobsConfigProvider = configSliceProvider(JOBS_CONFIG, JOBS_SETTINGS);
