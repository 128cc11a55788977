/** The `ETag` of one image's read, as the OpenAPI document shows it (see common/http/not-modified.ts). */
export const IMAGE_ETAG = {
  description:
    'A weak entity tag of everything the body shows: send it back as If-None-Match. Not a ' +
    'version: If-Match never takes it.',
  schema: { type: 'string', pattern: '^W/"[A-Za-z0-9_-]{22}"$' },
};

/** The `If-None-Match` of one image's read. */
export const IMAGE_IF_NONE_MATCH = {
  name: 'If-None-Match',
  required: false,
  description:
    'The image’s `ETag` as you last read it (weak or not), a comma-separated list of such ' +
    'tags, or `*`: 304 with no body while it is current.',
  schema: { type: 'string' },
};

/** The description of the 304 of a conditional read. */
export const NOT_MODIFIED = 'Not Modified: the copy If-None-Match names is current (no body).';
