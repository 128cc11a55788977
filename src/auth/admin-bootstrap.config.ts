import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const ADMIN_BOOTSTRAP_CONFIG = Symbol('ADMIN_BOOTSTRAP_CONFIG');

const ADMIN_BOOTSTRAP_SETTINGS = ['ADMIN_EMAIL', 'ADMIN_PASSWORD'] as const;

/** The settings of the first-run administrator. */
export type AdminBootstrapConfig = ConfigSlice<(typeof ADMIN_BOOTSTRAP_SETTINGS)[number]>;

export const adminBootstrapConfigProvider = configSliceProvider(
  ADMIN_BOOTSTRAP_CONFIG,
  ADMIN_BOOTSTRAP_SETTINGS,
);
