import { configSliceProvider, type ConfigSlice } from '../../config/config-slice';

export const DELIVERY_CONFIG = Symbol('DELIVERY_CONFIG');

/** Images made on request: transform URLs, their signing keys and the width ladder. */
const DELIVERY_SETTINGS = [
  'DELIVERY_SIGNING_KEYS',
  'DELIVERY_WIDTHS',
  // The URL signing key is derived from it when DELIVERY_SIGNING_KEYS is unset.
  'JWT_SECRET',
  'NODE_ENV',
  // The development signing key is kept here when neither key is set.
  'DATA_DIR',
  // Presets may be asked for by name, unsigned.
  'IMAGE_RENDITIONS',
  // Absolute URLs in API responses.
  'PUBLIC_BASE_URL',
  'PORT',
] as const;

export type DeliveryConfig = ConfigSlice<(typeof DELIVERY_SETTINGS)[number]>;

export const deliveryConfigProvider = configSliceProvider(DELIVERY_CONFIG, DELIVERY_SETTINGS);
