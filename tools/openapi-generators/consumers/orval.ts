// Compiles only if orval (fetch client) reads openapi.json as our clients need: an upload's image
// is a Blob or File, integers are numbers.
import type { ImageDto, UploadProductImageBody } from '../../../.tmp/openapi-generators/orval/api';
import type { Exactly } from './exactly';

export const checks: [
  Exactly<UploadProductImageBody['image'], Blob | File>,
  Exactly<ImageDto['width'], number>,
] = [true, true];
