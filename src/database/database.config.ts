import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const DATABASE_CONFIG = Symbol('DATABASE_CONFIG');

const DATABASE_SETTINGS = [
  'DATABASE_URL',
  'DATABASE_POOL_SIZE',
  'DATABASE_STATEMENT_TIMEOUT_MS',
  'DATABASE_SSL',
  'DATABASE_PREPARED_STATEMENTS',
  'MIGRATIONS_RUN',
  // Without DATABASE_URL, the embedded database lives below it.
  'DATA_DIR',
] as const;

/** The settings database/ reads. */
export type DatabaseConfig = ConfigSlice<(typeof DATABASE_SETTINGS)[number]>;

export const databaseConfigProvider = configSliceProvider(DATABASE_CONFIG, DATABASE_SETTINGS);
