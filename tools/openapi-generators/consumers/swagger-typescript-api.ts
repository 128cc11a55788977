// Compiles only if swagger-typescript-api reads openapi.json as our clients need: an upload's
// image is a File, integers are numbers.
import type { Api, ImageDto } from '../../../.tmp/openapi-generators/swagger-typescript-api/api';
import type { Exactly } from './exactly';

type UploadBody = Parameters<Api<unknown>['api']['uploadProductImage']>[1];

export const checks: [Exactly<UploadBody['image'], File>, Exactly<ImageDto['width'], number>] = [
  true,
  true,
];
