/** The `If-Match` of every route that changes a gallery, as the OpenAPI document shows it. */
export const GALLERY_IF_MATCH = {
  name: 'If-Match',
  required: false,
  description:
    'The gallery version you last read: its ETag (`"5"`), the `version` of a body (`5`) or a weak ' +
    'ETag (`W/"5"`), or a comma-separated list of them, or `*`. 412 gallery_changed if the ' +
    'gallery changed since; a value naming no version never matches.',
  schema: { type: 'string' },
};
