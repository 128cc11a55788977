import type { ResponsiveImageDto } from '../dto/image.dto';

/** Fastify's Content-Type of an object it serializes, which a reply with a serializer must name. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** What the serializer reads of a page: its images' `responsive`, the rest as it is. */
interface PageWithImages {
  items: { responsive: Record<string, ResponsiveImageDto> }[];
}

/**
 * The JSON text of each `responsive` already written, by object: ResponsiveImages keeps one
 * object per image and answers that same object to every request (never changed once made), so
 * its text is the same too.
 */
const written = new WeakMap<object, string>();

/**
 * Stands for an image's `responsive` in the text of the rest of the page. `"responsive":"\u0000"`
 * is then in that text exactly once per image, where JSON.stringify wrote the key: the quotes of
 * a string value are escaped (`\"`), so no value can hold that text, and no other object of a
 * page has a key `responsive` (nor could PostgreSQL's text hold a NUL).
 */
const PLACEHOLDER = '\u0000';
const PLACED = `"responsive":${JSON.stringify(PLACEHOLDER)}`;

/**
 * A gallery page as JSON: exactly JSON.stringify's text (the same keys in the same order), with
 * each image's `responsive`, three quarters of the text (about 40 signed URLs an image), written
 * once per kept object instead of on every request: the JSON text of a 10-image page was the
 * largest CPU cost of a gallery GET. The route sets it as its reply's serializer (Fastify's
 * `reply.serializer`), after the page is read: anything else answered (an error's problem) is
 * JSON.stringify's.
 */
export function galleryPageJson(payload: unknown): string {
  if (!isPage(payload)) return JSON.stringify(payload);
  const { items } = payload;
  const placed = items.map((item) => ({ ...item, responsive: PLACEHOLDER }));
  const parts = JSON.stringify({ ...payload, items: placed }).split(PLACED);
  // Never otherwise (see PLACEHOLDER); should a value ever carry it, the page is whole all the same.
  if (parts.length !== items.length + 1) return JSON.stringify(payload);
  let text = parts[0];
  for (let i = 0; i < items.length; i++) {
    text += `"responsive":${responsiveJson(items[i].responsive)}${parts[i + 1]}`;
  }
  return text;
}

function responsiveJson(responsive: object): string {
  let text = written.get(responsive);
  if (text === undefined) {
    text = JSON.stringify(responsive);
    written.set(responsive, text);
  }
  return text;
}

function isPage(payload: unknown): payload is PageWithImages {
  const items = (payload as Partial<PageWithImages> | null)?.items;
  return (
    Array.isArray(items) &&
    items.every(
      (item: unknown) =>
        typeof item === 'object' &&
        item !== null &&
        typeof (item as { responsive?: unknown }).responsive === 'object' &&
        (item as { responsive?: unknown }).responsive !== null,
    )
  );
}
