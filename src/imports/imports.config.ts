import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const IMPORTS_CONFIG = Symbol('IMPORTS_CONFIG');

const IMPORTS_SETTINGS = [
  'BULK_IMPORT_MAX_BYTES',
  'BULK_IMPORT_MAX_ROWS',
  'BULK_IMPORT_RETENTION_DAYS',
  // How long a row's fetch may take bounds how long a chunk of rows may run.
  'IMPORT_TIMEOUT_MS',
] as const;

/** The settings imports/ reads. */
export type ImportsConfig = ConfigSlice<(typeof IMPORTS_SETTINGS)[number]>;

export const importsConfigProvider = configSliceProvider(IMPORTS_CONFIG, IMPORTS_SETTINGS);
