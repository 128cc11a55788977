import type { ApiBodyOptions, SchemaObject } from '@nestjs/swagger';

/** What the main upload routes accept, as documented on their file part. */
export const ACCEPTED_IMAGES =
  'JPEG, PNG, GIF, WebP, AVIF, BMP (stored as PNG) or SVG (sanitised).';

/** A file part of a multipart body (`format: binary`: a Blob or File in generated clients). */
export function imageFilePart(description = ACCEPTED_IMAGES): SchemaObject {
  return { type: 'string', format: 'binary', description };
}

/**
 * The `@ApiBody` of a multipart image upload: an `image` file part (required unless `required`
 * says otherwise) and the form's text fields.
 */
export function imageUploadBody(
  fields: Record<string, SchemaObject>,
  options: { image?: SchemaObject; required?: string[] } = {},
): ApiBodyOptions {
  const { image = imageFilePart(), required = ['image'] } = options;
  return { schema: { type: 'object', required, properties: { image, ...fields } } };
}
