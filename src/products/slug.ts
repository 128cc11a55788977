import { randomBytes } from 'node:crypto';
import anyAscii from 'any-ascii';

export const SLUG_MAX_LENGTH = 100;
export const SLUG_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * A URL slug from a product name, in ASCII letters and digits, whatever the script:
 * "Crème Brûlée 250 g" → "creme-brulee-250-g", "Straße" → "strasse", "Молоко" → "moloko",
 * "緑茶" → "lucha" (any-ascii's transliteration, as Saleor's unidecode). Without it every name in
 * Cyrillic, Greek, CJK… made the same slug ("product"), and ß, ø or ı were cut out of words.
 */
export function slugify(name: string): string {
  const slug = anyAscii(name.normalize('NFC'))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SLUG_MAX_LENGTH)
    .replace(/-+$/g, '');
  return slug || 'product';
}

/** An alternative of a taken slug with a random suffix: "mug-k3v9qz0", within the length limit. */
export function randomSlugCandidate(base: string): string {
  const suffix = `-${randomBytes(4).readUInt32BE(0).toString(36).padStart(7, '0')}`;
  return base.slice(0, SLUG_MAX_LENGTH - suffix.length).replace(/-+$/g, '') + suffix;
}

/** The n-th alternative of a taken slug: "mug", "mug-2", "mug-3", … within the length limit. */
export function slugCandidate(base: string, n: number): string {
  if (n <= 1) return base;
  const suffix = `-${n}`;
  return base.slice(0, SLUG_MAX_LENGTH - suffix.length).replace(/-+$/g, '') + suffix;
}
