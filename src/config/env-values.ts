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

/**
 * Whether `value` is a URL a client library can connect to: one of `protocols`, a port (if any)
 * from 1 to 65535, and a user name and password whose %-escapes decode. The host may be left out
 * (PostgreSQL's `postgres:///db?host=/run/postgresql`, a Unix socket). What the schema's
 * pattern cannot tell, and what the PostgreSQL and Redis clients would otherwise fail on at the
 * first connection, with a message naming no setting.
 */
export function isServiceUrl(value: string, protocols: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (!protocols.includes(url.protocol.slice(0, -1))) return false;
  if (url.port !== '' && Number(url.port) === 0) return false;
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    decodeURIComponent(url.pathname);
  } catch {
    return false;
  }
  return true;
}
