import { isIP } from 'node:net';
import { parseIPv6 } from '../common/net/ip-address';

/** `::ffff:0:0/96`: an IPv4 address written as IPv6, counted as the IPv4 one. */
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * The network a login attempt is counted against: an IPv4 address itself (an IPv4-mapped IPv6
 * address as the IPv4 one), an IPv6 address's /64 (`2001:db8:1:2::/64`). A /64 is one subscriber's
 * or one host's: SLAAC and privacy extensions give a client a new address in it every day, and its
 * owner every one of its 2^64, so counted per address an IPv6 client would have no login limit at
 * all. Anything else (no address known) is left as it is. Pure.
 */
export function clientNetwork(address: string): string {
  if (isIP(address) !== 6) return address;
  const bytes = parseIPv6(address.split('%')[0]);
  if (!bytes) return address;
  if (MAPPED_PREFIX.every((byte, i) => bytes[i] === byte)) return bytes.subarray(12).join('.');
  const groups = [0, 1, 2, 3].map((i) => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16));
  return `${groups.join(':')}::/64`;
}
