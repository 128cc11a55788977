import { configSliceProvider, type ConfigSlice } from '../../config/config-slice';

export const RENDITIONS_CONFIG = Symbol('RENDITIONS_CONFIG');

const RENDITIONS_SETTINGS = [
  // Originals are read back into the upload spool (<DATA_DIR>/tmp/uploads) to be processed.
  'DATA_DIR',
  // A worker re-makes as many images at once as the processor has slots; `all`, one at a time.
  'SERVICE_ROLE',
  'IMAGE_PROCESSING_CONCURRENCY',
] as const;

/** The settings renditions/ reads (the presets themselves are the ImageProcessor's). */
export type RenditionsConfig = ConfigSlice<(typeof RENDITIONS_SETTINGS)[number]>;

export const renditionsConfigProvider = configSliceProvider(RENDITIONS_CONFIG, RENDITIONS_SETTINGS);
