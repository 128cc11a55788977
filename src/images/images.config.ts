import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const IMAGES_CONFIG = Symbol('IMAGES_CONFIG');

/** Receiving, importing, processing and sweeping images. */
const IMAGES_SETTINGS = [
  // Uploads and imports are spooled under <DATA_DIR>/tmp/uploads.
  'DATA_DIR',
  'MAX_UPLOAD_BYTES',
  'MAX_IMAGE_PIXELS',
  'IMAGE_RENDITIONS',
  'IMAGE_PROCESSING_CONCURRENCY',
  'IMAGE_PROCESSING_QUEUE_LIMIT',
  'IMAGE_PROCESSING_QUEUE_BYTES',
  'TRANSFORM_READ_CONCURRENCY',
  'SVG_RENDER_TIMEOUT_MS',
  'SVG_RENDER_MAX_BYTES',
  'IMPORT_TIMEOUT_MS',
  'IMPORT_ALLOWED_PORTS',
  'IMPORT_ALLOW_PRIVATE_NETWORKS',
  'IMPORT_ALLOWED_PRIVATE_ORIGINS',
  'UNATTACHED_IMAGE_SWEEP_CRON',
  'ORPHAN_SWEEP_CRON',
  'ORPHAN_SWEEP_GRACE_HOURS',
  'UPLOAD_SPOOL_SWEEP_SECONDS',
] as const;

/**
 * The settings images/ reads. ImagesModule exports it: the compatible APIs' upload pipes read
 * uploads with the same spool folder and limits.
 */
export type ImagesConfig = ConfigSlice<(typeof IMAGES_SETTINGS)[number]>;

export const imagesConfigProvider = configSliceProvider(IMAGES_CONFIG, IMAGES_SETTINGS);
