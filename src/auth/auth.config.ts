import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const AUTH_CONFIG = Symbol('AUTH_CONFIG');

/** Signing and verifying tokens, accepting API keys, and limiting logins. */
const AUTH_SETTINGS = [
  'NODE_ENV',
  // The development JWT secret is kept here when JWT_SECRET is unset.
  'DATA_DIR',
  'JWT_ALGORITHM',
  'JWT_SECRET',
  'JWT_PRIVATE_KEY_FILE',
  'JWT_PUBLIC_KEY_FILE',
  'JWT_PREVIOUS_SECRET',
  'JWT_PREVIOUS_PUBLIC_KEY_FILE',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'JWT_TTL_SECONDS',
  'JWT_CLOCK_TOLERANCE_SECONDS',
  'API_KEY_QUERY_PARAM',
  'LOGIN_RATE_LIMIT',
  'LOGIN_RATE_WINDOW_SECONDS',
] as const;

/** The settings auth/ reads. */
export type AuthConfig = ConfigSlice<(typeof AUTH_SETTINGS)[number]>;

export const authConfigProvider = configSliceProvider(AUTH_CONFIG, AUTH_SETTINGS);
