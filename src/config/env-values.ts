import { isIP } from 'node:net';

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
 * Whether `value` is a URL a client library can connect to: one of `protocols`, a host, a port
 * (if any) from 1 to 65535, and a user name and password whose %-escapes decode. The host may be
 * given as a `host` parameter instead (PostgreSQL's `postgres:///db?host=/run/postgresql`, a Unix
 * socket), or, with `defaultHost` (PGHOST set: node-postgres takes it for a URL naming none), by
 * the environment; otherwise left out altogether (`redis://`, `postgres:///db`), the clients went
 * to localhost: a server not the one meant, or none. What the schema's pattern cannot tell, and
 * what the PostgreSQL and Redis clients would otherwise fail on at the first connection, with a
 * message naming no setting.
 */
export function isServiceUrl(
  value: string,
  protocols: readonly string[],
  defaultHost = false,
): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (!protocols.includes(url.protocol.slice(0, -1))) return false;
  if (url.port !== '' && Number(url.port) === 0) return false;
  const hostParameter = hostParameterTaken(url) && url.searchParams.get('host');
  if (url.hostname === '' && !hostParameter && !defaultHost) {
    return false;
  }
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    decodeURIComponent(url.pathname);
  } catch {
    return false;
  }
  return true;
}

/** Whether the client of `url` takes its host as a `host` parameter (only PostgreSQL's does). */
function hostParameterTaken(url: URL): boolean {
  return url.protocol === 'postgres:' || url.protocol === 'postgresql:';
}

/**
 * Whether `value` is a comma-separated list of origins written as a browser sends them in
 * `Origin` (`https://shop.example`, `http://127.0.0.1:8080`: scheme, host in lower case, a port
 * only when not the scheme's own; no path, not even a trailing slash), or empty. CORS and the
 * import allowance compare origins as strings: `https://shop.example/`, pasted from the address
 * bar, would be accepted and then never match.
 */
export function isOriginList(value: string): boolean {
  return value.trim() === '' || value.split(',').every((item) => isOrigin(item.trim()));
}

function isOrigin(item: string): boolean {
  try {
    const url = new URL(item);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === item;
  } catch {
    return false;
  }
}

const HOST_LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(\\.${HOST_LABEL})*$`, 'i');

/**
 * Whether `value` is something to listen on: an IP address (`0.0.0.0`, `::`, `127.0.0.1`) or a
 * host name (`localhost`). `0.0.0.0:3000` or `http://localhost` failed only once the app had
 * started, in listen(), with a message naming no setting.
 */
export function isListenHost(value: string): boolean {
  if (isIP(value) !== 0) return true;
  // Digits and dots that are no IPv4 address (256.1.1.1) are no host name either.
  return HOST_NAME.test(value) && !/^[\d.]+$/.test(value);
}

/** The names proxy-addr (Fastify's `trustProxy`) gives to ranges of addresses. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * Whether `value` is a list of the proxies TRUST_PROXY may name: addresses (`10.0.0.7`, `::1`),
 * CIDR ranges (`10.0.0.0/8`, `fd00::/8`) and `loopback`, `linklocal`, `uniquelocal`, separated by
 * commas, at least one. What Fastify would otherwise refuse at start-up with a message naming no
 * setting, or read as a host name it never matches.
 */
export function isTrustedProxyList(value: string): boolean {
  const items = value.split(',').map((item) => item.trim());
  return items.length > 0 && items.every(isTrustedProxy);
}

function isTrustedProxy(item: string): boolean {
  if (PROXY_RANGE_NAMES.includes(item)) return true;
  const [address, bits, ...rest] = item.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  // From /1: proxy-addr refuses /0 (every address), at start-up, naming no setting.
  return /^\d{1,3}$/.test(bits) && Number(bits) >= 1 && Number(bits) <= (version === 4 ? 32 : 128);
}
