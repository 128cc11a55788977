import { AppError } from '../../common/errors/app.error';
import { decodeId } from '../../common/ids/short-id';
import type { ImageDto } from '../../images/dto/image.dto';
import type { ClosientImageDto } from './dto/closient-image.dto';

/** Closient's GTIN path parameter: any 8 to 14 digits. */
export const CLOSIENT_GTIN_PATTERN = '^\\d{8,14}$';
const GTIN = new RegExp(CLOSIENT_GTIN_PATTERN);

/**
 * Closient's `{gtin}` as the GTIN-14 it is looked up as: 8 to 14 digits, zero-padded on the left
 * (as its document says). Anything else is 400 invalid_gtin. The check digit is left to the
 * product lookup (a wrong one is 400 invalid_gtin there).
 */
export function closientGtin(gtin: string): string {
  if (!GTIN.test(gtin)) {
    throw new AppError('invalid_gtin', 'The GTIN must be 8 to 14 digits.', [
      { field: 'gtin', message: 'must be 8 to 14 digits' },
    ]);
  }
  return gtin.padStart(14, '0');
}

/**
 * Closient's `{organization_id}`: the caller's organisation, as a shortuuid or a UUID. Malformed:
 * 400 invalid_id. Another organisation's: 404 product_not_found, as for a product the caller
 * cannot see (whether that organisation exists is not revealed).
 */
export function assertOwnOrganization(organizationId: string, callerOrganizationId: string): void {
  const uuid = decodeId(organizationId);
  if (!uuid) {
    throw new AppError('invalid_id', '"organization_id" must be a 22-character id or a UUID.', [
      { field: 'organization_id', message: 'must be a 22-character id or a UUID' },
    ]);
  }
  if (uuid !== callerOrganizationId) {
    throw productNotFound();
  }
}

/** Closient's 404: no product with the GTIN in the organisation the path names. */
export function productNotFound(): AppError {
  return new AppError('product_not_found', 'No product with this GTIN in this organisation.');
}

/** An image of the main API as Closient shows it. */
export function toClosientImage(image: ImageDto): ClosientImageDto {
  return {
    id: image.id,
    title: image.title,
    is_primary: image.is_primary,
    priority: image.priority,
    created: image.created_at,
    image_url: image.url,
  };
}
