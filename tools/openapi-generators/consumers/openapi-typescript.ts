// Compiles only if openapi-typescript (with the Blob transform its documentation gives for
// `format: binary`) reads openapi.json as our clients need: an upload's image is a Blob, integers
// are numbers, and the response headers the service sends are declared with their types.
import type { paths } from '../../../.tmp/openapi-generators/openapi-typescript/schema';
import type { Exactly } from './exactly';

type Gallery = paths['/api/v1/products/{productId}/images'];
type Upload = Gallery['post']['requestBody']['content']['multipart/form-data'];
type Created = Gallery['post']['responses'][201];
type Listed = Gallery['get']['responses'][200];
type Login = paths['/api/v1/auth/login']['post']['responses'];
type Me = paths['/api/v1/auth/me']['get']['responses'];

export const checks: [
  Exactly<Upload['image'], Blob>,
  Exactly<Created['content']['application/json']['width'], number>,
  Exactly<Created['headers']['Location'], string>,
  Exactly<Created['headers']['ETag'], string>,
  Exactly<Listed['headers']['ETag'], string>,
  Exactly<Listed['headers']['X-Request-Id'], string>,
  Exactly<Login[429]['headers']['Retry-After'], number>,
  Exactly<Me[401]['headers']['WWW-Authenticate'], string>,
] = [true, true, true, true, true, true, true, true];
