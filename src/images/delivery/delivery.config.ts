import { configSliceProvider, type ConfigSlice } from '../../config/config-slice';
import { parseWidthLadder } from '../../config/env.validation';
import { parseRenditionPresets } from '../processing/rendition-presets';
import type { PlanSettings } from './transform-plan';

export const DELIVERY_CONFIG = Symbol('DELIVERY_CONFIG');

/** Images made on request: transform URLs, their signing keys and the width ladder. */
const DELIVERY_SETTINGS = [
  'DELIVERY_SIGNING_KEYS',
  'DELIVERY_WIDTHS',
  // The URL signing key is derived from it when DELIVERY_SIGNING_KEYS is unset.
  'JWT_SECRET',
  'JWT_PREVIOUS_SECRET',
  'NODE_ENV',
  // The development signing key is kept here when neither key is set.
  'DATA_DIR',
  // Presets may be asked for by name, unsigned.
  'IMAGE_RENDITIONS',
  // No result is planned larger.
  'MAX_IMAGE_PIXELS',
  // Absolute URLs in API responses.
  'PUBLIC_BASE_URL',
  'PORT',
] as const;

export type DeliveryConfig = ConfigSlice<(typeof DELIVERY_SETTINGS)[number]>;

export const deliveryConfigProvider = configSliceProvider(DELIVERY_CONFIG, DELIVERY_SETTINGS);

/** What results are planned with, read from the (validated) settings. */
export function deliverySettings(config: DeliveryConfig): PlanSettings {
  const ladder = parseWidthLadder(config.DELIVERY_WIDTHS);
  if (!ladder) throw new Error('DELIVERY_WIDTHS is validated at start-up');
  return {
    presets: parseRenditionPresets(config.IMAGE_RENDITIONS),
    ladder,
    maxPixels: config.MAX_IMAGE_PIXELS,
  };
}
