/**
 * What the values of some settings mean, for the code that reads them: the schema
 * (env.validation.ts) checks a value's shape; these turn a valid value into what it stands for.
 */

/** The compatible APIs COMPAT_APIS can name (see compat/compat.module.ts). */
export const COMPAT_API_NAMES = [
  'token-api',
  'closient',
  'inventorum',
  'backoffice-uploader',
] as const;
export type CompatApiName = (typeof COMPAT_API_NAMES)[number];

/** The compatible APIs COMPAT_APIS turns on. */
export function enabledCompatApis(value: string): CompatApiName[] {
  if (value === 'all') return [...COMPAT_API_NAMES];
  if (value === 'none') return [];
  return COMPAT_API_NAMES.filter((name) => parseList(value).includes(name));
}

/** A comma-separated list, trimmed, without empty items. */
export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
