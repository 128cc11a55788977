/**
 * Every machine-readable error `code` the API can answer with. Codes are part of the public
 * contract: add new ones freely, never rename or remove one. Each names the kind of failure; the
 * exception filter turns a kind into an HTTP status, so services never speak HTTP.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'precondition_failed'
  | 'range_not_satisfiable'
  | 'unprocessable'
  | 'timeout'
  | 'too_large'
  | 'headers_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'internal'
  | 'not_implemented'
  | 'dependency_failed'
  | 'unavailable';

export const ERROR_KIND_STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  precondition_failed: 412,
  range_not_satisfiable: 416,
  unprocessable: 422,
  timeout: 408,
  too_large: 413,
  headers_too_large: 431,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  not_implemented: 501,
  dependency_failed: 502,
  unavailable: 503,
};

interface ErrorCodeDefinition {
  kind: ErrorKind;
  title: string;
}

export const ERROR_CODES = {
  // Generic codes, used when nothing more specific applies.
  bad_request: { kind: 'invalid', title: 'Bad request' },
  unauthorized: { kind: 'unauthenticated', title: 'Authentication required' },
  forbidden: { kind: 'forbidden', title: 'Forbidden' },
  not_found: { kind: 'not_found', title: 'Not found' },
  method_not_allowed: { kind: 'method_not_allowed', title: 'Method not allowed' },
  conflict: { kind: 'conflict', title: 'Conflict' },
  precondition_failed: { kind: 'precondition_failed', title: 'Precondition failed' },
  headers_too_large: { kind: 'headers_too_large', title: 'Request headers too large' },
  range_not_satisfiable: {
    kind: 'range_not_satisfiable',
    title: 'The range starts past the end of the file',
  },
  payload_too_large: { kind: 'too_large', title: 'Payload too large' },
  unsupported_media_type: { kind: 'unsupported_media_type', title: 'Unsupported media type' },
  too_many_requests: { kind: 'rate_limited', title: 'Too many requests' },
  internal_error: { kind: 'internal', title: 'Internal server error' },
  service_unavailable: { kind: 'unavailable', title: 'Service unavailable' },
  database_unavailable: { kind: 'unavailable', title: 'The database is unavailable' },
  // Request shape.
  validation_failed: { kind: 'invalid', title: 'The request is invalid' },
  malformed_json: { kind: 'invalid', title: 'The request body is not valid JSON' },
  invalid_content_length: { kind: 'invalid', title: 'The Content-Length header is invalid' },
  unsupported_transfer_coding: {
    kind: 'not_implemented',
    title: 'The request uses a transfer coding the service does not implement',
  },
  request_timeout: { kind: 'timeout', title: 'The request did not arrive in time' },
  route_not_found: { kind: 'not_found', title: 'No such route' },
  malformed_url: { kind: 'invalid', title: 'The request URL is malformed' },
  invalid_id: { kind: 'invalid', title: 'The id is malformed' },
  invalid_cursor: { kind: 'invalid', title: 'The pagination cursor is invalid' },
  page_too_deep: { kind: 'invalid', title: 'The page is too deep to read by number' },
  // Authentication and authorisation.
  authentication_required: { kind: 'unauthenticated', title: 'Authentication required' },
  invalid_token: { kind: 'unauthenticated', title: 'The bearer token is invalid or expired' },
  invalid_api_key: { kind: 'unauthenticated', title: 'The API key is invalid, expired or revoked' },
  invalid_login: { kind: 'unauthenticated', title: 'Wrong email, username or password' },
  insufficient_role: { kind: 'forbidden', title: 'Your role does not allow this' },
  insufficient_scope: { kind: 'forbidden', title: 'Your credential lacks a required scope' },
  login_rate_limited: { kind: 'rate_limited', title: 'Too many login attempts' },
  login_limits_unavailable: {
    kind: 'unavailable',
    title: 'Login attempts cannot be counted now',
  },
  // 403, not 401: the caller's session is good (a 401 tells a client to log in again).
  wrong_current_password: { kind: 'forbidden', title: 'The current password is wrong' },
  password_unchanged: { kind: 'invalid', title: 'The new password is the current one' },
  user_session_required: {
    kind: 'forbidden',
    title: 'Only a logged-in user can do this, not an API key',
  },
  // Users and API keys.
  user_not_found: { kind: 'not_found', title: 'No such user' },
  api_key_not_found: { kind: 'not_found', title: 'No such API key' },
  api_key_already_created: {
    kind: 'conflict',
    title: 'The API key of this Idempotency-Key was created already',
  },
  email_taken: { kind: 'conflict', title: 'The email address is already in use' },
  username_taken: { kind: 'conflict', title: 'The username is already in use' },
  scope_not_allowed: { kind: 'invalid', title: 'A requested scope exceeds the role' },
  cannot_modify_self: { kind: 'conflict', title: 'You cannot do this to your own account' },
  credential_outlives_caller: {
    kind: 'forbidden',
    title: 'An expiring API key cannot make a login that outlives it',
  },
  last_admin: { kind: 'conflict', title: "The organisation's last administrator must stay" },
  // Products.
  product_not_found: { kind: 'not_found', title: 'No such product' },
  invalid_gtin: { kind: 'invalid', title: 'The GTIN is invalid' },
  slug_taken: { kind: 'conflict', title: 'The slug is already in use' },
  gtin_taken: { kind: 'conflict', title: 'The GTIN is already in use' },
  invalid_external_id: { kind: 'invalid', title: 'The external id is malformed' },
  external_id_taken: { kind: 'conflict', title: 'The external id is already in use' },
  // Images.
  image_required: { kind: 'invalid', title: 'An image file is required' },
  unsupported_image_type: { kind: 'invalid', title: 'The file is not a supported image type' },
  unsafe_svg: { kind: 'invalid', title: 'The SVG contains active or external content' },
  invalid_image: { kind: 'invalid', title: 'The image is truncated or corrupt' },
  image_too_many_pixels: { kind: 'invalid', title: 'The image has too many pixels' },
  image_too_complex: {
    kind: 'invalid',
    title: 'The image takes too long or too much memory to render',
  },
  file_too_large: { kind: 'too_large', title: 'The file is too large' },
  too_many_files: { kind: 'invalid', title: 'Send exactly one file' },
  too_many_parts: { kind: 'too_large', title: 'The multipart body has too many parts' },
  invalid_multipart: { kind: 'invalid', title: 'The multipart body is malformed' },
  image_not_found: { kind: 'not_found', title: 'No such image' },
  invalid_data_uri: { kind: 'invalid', title: 'The data URI is malformed or holds no image' },
  image_type_mismatch: { kind: 'invalid', title: 'The declared type differs from the image' },
  image_url_unreachable: { kind: 'invalid', title: 'The image URL could not be fetched' },
  invalid_image_source: {
    kind: 'invalid',
    title: 'The image is neither a data URI nor an http(s) URL',
  },
  image_already_attached: { kind: 'conflict', title: 'The image is already attached' },
  image_purpose_mismatch: { kind: 'conflict', title: 'The image was uploaded for another purpose' },
  invalid_image_order: { kind: 'invalid', title: 'The order must name every image exactly once' },
  primary_required: { kind: 'conflict', title: 'A product with images always has a primary image' },
  gallery_changed: { kind: 'precondition_failed', title: 'The gallery changed since you read it' },
  product_changed: { kind: 'precondition_failed', title: 'The product changed since you read it' },
  server_busy: { kind: 'unavailable', title: 'Too many images are being processed' },
  storage_unavailable: { kind: 'dependency_failed', title: 'The image storage is unavailable' },
  upload_spool_full: {
    kind: 'unavailable',
    title: 'The server has no room to receive the upload',
  },
  upload_spool_unavailable: {
    kind: 'unavailable',
    title: 'The server cannot write uploads to its spool folder',
  },
  // Bulk imports.
  import_not_found: { kind: 'not_found', title: 'No such import' },
  invalid_csv: { kind: 'invalid', title: 'The CSV is malformed' },
  import_too_large: { kind: 'too_large', title: 'The import has too many rows' },
  import_receiving: { kind: 'conflict', title: 'The import is still being received' },
  // A row's problem only (never an answer's): the import was cancelled before the row was done.
  import_cancelled: { kind: 'conflict', title: 'The import was cancelled' },
  invalid_import_row: { kind: 'invalid', title: 'The import row is invalid' },
  // Re-making renditions.
  rendition_rebuild_not_found: { kind: 'not_found', title: 'No such rendition rebuild' },
  // Images made on request (transform URLs).
  transform_invalid: { kind: 'invalid', title: 'The transform options are malformed' },
  transform_signature_invalid: {
    kind: 'forbidden',
    title: "The transform URL's signature is missing or wrong",
  },
  // A fault of the stored data, not of the request: logged as an error.
  image_original_unreadable: {
    kind: 'internal',
    title: "The image's stored original could not be decoded",
  },
  // Storage.
  media_not_found: { kind: 'not_found', title: 'No such file' },
  // Operations.
  not_ready: { kind: 'unavailable', title: 'The service is not ready' },
  // Background jobs.
  job_not_found: { kind: 'not_found', title: 'No such job' },
  job_not_failed: { kind: 'conflict', title: 'Only a failed job can be retried' },
  job_nothing_to_retry: { kind: 'conflict', title: 'The job has nothing left to do' },
  // Idempotent retries (the Idempotency-Key header).
  invalid_idempotency_key: { kind: 'invalid', title: 'The Idempotency-Key header is malformed' },
  idempotency_key_in_use: {
    kind: 'conflict',
    title: 'A request with this Idempotency-Key is still being processed',
  },
  idempotency_key_reused: {
    kind: 'unprocessable',
    title: 'The Idempotency-Key was used for a different request',
  },
  idempotent_answer_lost: {
    kind: 'conflict',
    title: 'The request with this Idempotency-Key was done, but its answer was lost',
  },
} as const satisfies Record<string, ErrorCodeDefinition>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function errorStatus(code: ErrorCode): number {
  return ERROR_KIND_STATUS[ERROR_CODES[code].kind];
}

/** The generic code for an HTTP status raised outside our own code (Nest, Fastify, plugins). */
export function genericCodeForStatus(status: number): ErrorCode {
  const byStatus: Record<number, ErrorCode> = {
    400: 'bad_request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not_found',
    405: 'method_not_allowed',
    408: 'request_timeout',
    409: 'conflict',
    412: 'precondition_failed',
    413: 'payload_too_large',
    415: 'unsupported_media_type',
    429: 'too_many_requests',
    431: 'headers_too_large',
    503: 'service_unavailable',
  };
  if (byStatus[status]) return byStatus[status];
  return status >= 500 ? 'internal_error' : 'bad_request';
}
