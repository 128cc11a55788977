import { ValidateBy, type ValidationOptions } from 'class-validator';
import { AppError } from '../common/errors/app.error';
import { codePointLength } from '../common/http/max-length';

/**
 * The caller's own id for a product (an e-commerce backend's product id, such as the token API's
 * integers): 1 to 255 characters, as PostgreSQL counts them (code points), compared exactly.
 * It must fit one URL path segment, since products are addressed by it
 * (`/api/v1/products/by-external-id/{externalId}`): no `/`, no control character (C0, DEL, C1),
 * and neither `.` nor `..`, which URL parsers resolve away before a request is sent.
 */
export const EXTERNAL_ID_MAX_LENGTH = 255;

/** The rule as an OpenAPI (ECMA-262) pattern; the length is documented as min/maxLength. */
export const EXTERNAL_ID_PATTERN_SOURCE = '^(?!\\.\\.?$)[^\\u0000-\\u001F\\u007F-\\u009F/]+$';

// In unicode mode the class also refuses lone surrogates (UTF-16 halves, which no UTF-8 text
// holds); a pair is one code point outside the range.
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const EXTERNAL_ID = /^(?!\.\.?$)[^\u0000-\u001F\u007F-\u009F/\uD800-\uDFFF]+$/u;

export const EXTERNAL_ID_RULE = `1 to ${EXTERNAL_ID_MAX_LENGTH} characters, without "/" or control characters, not "." or ".."`;

export function isExternalId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    EXTERNAL_ID.test(value) &&
    codePointLength(value) <= EXTERNAL_ID_MAX_LENGTH
  );
}

/** An external id from a path; 400 invalid_external_id on `field` when it cannot be one. */
export function parseExternalId(value: string, field = 'externalId'): string {
  if (!isExternalId(value)) {
    throw new AppError('invalid_external_id', `An external id is ${EXTERNAL_ID_RULE}.`, [
      { field, message: `must be ${EXTERNAL_ID_RULE}` },
    ]);
  }
  return value;
}

/** class-validator: the property is an external id (see {@link isExternalId}). */
export function IsExternalId(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isExternalId',
      validator: {
        validate: (value) => isExternalId(value),
        defaultMessage: () => `$property must be ${EXTERNAL_ID_RULE}`,
      },
    },
    options,
  );
}
