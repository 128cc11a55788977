import { configSliceProvider, type ConfigSlice } from '../../config/config-slice';
import { parseWidthLadder } from '../../config/env.validation';
import { parseRenditionPresets } from '../processing/rendition-presets';
import type { PresetBox } from './transform-plan';

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

/** The presets and width ladder results are planned with, read from the (validated) settings. */
export function deliverySettings(config: DeliveryConfig): {
  presets: readonly PresetBox[];
  ladder: readonly number[];
} {
  const ladder = parseWidthLadder(config.DELIVERY_WIDTHS);
  if (!ladder) throw new Error('DELIVERY_WIDTHS is validated at start-up');
  return { presets: parseRenditionPresets(config.IMAGE_RENDITIONS), ladder };
}
