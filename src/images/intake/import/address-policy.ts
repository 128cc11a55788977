import { isIP } from 'node:net';
import { parseIPv4, parseIPv6 } from '../../../common/net/ip-address';

/**
 * Which IP addresses an outbound fetch made on a client's behalf may connect to.
 *
 * Only public unicast space is allowed: everything loopback, private, link-local, reserved,
 * multicast, documentation, or a transition mechanism that can carry an IPv4 address inside an
 * IPv6 one (mapped, compatible, NAT64, 6to4, Teredo) is refused, so that a URL cannot reach the
 * service's own network or the cloud metadata endpoint however the address is spelt.
 *
 * Addresses are parsed to bytes and compared against prefixes; strings are never pattern-matched.
 */

interface Prefix {
  readonly bytes: Uint8Array;
  readonly bits: number;
  readonly reason: string;
}

function prefix(address: string, bits: number, reason: string): Prefix {
  const bytes = address.includes(':') ? parseIPv6(address) : parseIPv4(address);
  if (!bytes) throw new Error(`Bad prefix in the address policy: ${address}`);
  return { bytes, bits, reason };
}

function inPrefix(bytes: Uint8Array, { bytes: base, bits }: Prefix): boolean {
  if (bytes.length !== base.length) return false;
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== base[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[whole] & mask) === (base[whole] & mask);
}

/** First match wins, so more specific prefixes come first. */
const IPV4_BLOCKED: readonly Prefix[] = [
  prefix('0.0.0.0', 32, 'unspecified'),
  prefix('0.0.0.0', 8, 'this-network'),
  prefix('10.0.0.0', 8, 'private'),
  prefix('100.64.0.0', 10, 'cgnat'),
  prefix('127.0.0.0', 8, 'loopback'),
  prefix('169.254.0.0', 16, 'link-local'),
  prefix('172.16.0.0', 12, 'private'),
  prefix('192.0.0.0', 24, 'ietf-protocol'),
  prefix('192.0.2.0', 24, 'documentation'),
  prefix('192.88.99.0', 24, '6to4-relay'),
  prefix('192.168.0.0', 16, 'private'),
  prefix('198.18.0.0', 15, 'benchmarking'),
  prefix('198.51.100.0', 24, 'documentation'),
  prefix('203.0.113.0', 24, 'documentation'),
  prefix('224.0.0.0', 4, 'multicast'),
  prefix('255.255.255.255', 32, 'broadcast'),
  prefix('240.0.0.0', 4, 'reserved'),
];

const IPV6_BLOCKED: readonly Prefix[] = [
  prefix('::', 128, 'unspecified'),
  prefix('::1', 128, 'loopback'),
  // Any IPv6 form that carries an IPv4 address is refused whatever that address is.
  prefix('::ffff:0:0', 96, 'ipv4-mapped'),
  prefix('::', 96, 'ipv4-compatible'),
  prefix('::ffff:0:0:0', 96, 'ipv4-translated'),
  prefix('64:ff9b::', 96, 'nat64'),
  prefix('64:ff9b:1::', 48, 'nat64'),
  prefix('100::', 64, 'discard'),
  prefix('2001::', 32, 'teredo'),
  prefix('2001:2::', 48, 'benchmarking'),
  prefix('2001:10::', 28, 'orchid'),
  prefix('2001:20::', 28, 'orchid'),
  prefix('2001::', 23, 'ietf-protocol'),
  prefix('2001:db8::', 32, 'documentation'),
  prefix('3fff::', 20, 'documentation'),
  prefix('2002::', 16, '6to4'),
  prefix('fc00::', 7, 'unique-local'),
  prefix('fe80::', 10, 'link-local'),
  prefix('fec0::', 10, 'site-local'),
  prefix('ff00::', 8, 'multicast'),
];

/** Global unicast: everything else in IPv6 is unassigned or special. */
const IPV6_GLOBAL_UNICAST = prefix('2000::', 3, 'global-unicast');

function firstMatch(bytes: Uint8Array, table: readonly Prefix[]): string | undefined {
  return table.find((p) => inPrefix(bytes, p))?.reason;
}

/**
 * Why an outbound connection to `ip` must be refused, or `undefined` when it is a public unicast
 * address that may be contacted. Anything that is not a plain IP address (a name, a bracketed
 * literal, an address with a zone index) is refused too.
 */
export function addressBlockReason(ip: string): string | undefined {
  switch (isIP(ip)) {
    case 4: {
      const bytes = parseIPv4(ip);
      return bytes ? firstMatch(bytes, IPV4_BLOCKED) : 'invalid';
    }
    case 6: {
      // A zone index (fe80::1%eth0) pins an interface: never a public destination.
      if (ip.includes('%')) return 'scoped';
      const bytes = parseIPv6(ip);
      if (!bytes) return 'invalid';
      const reason = firstMatch(bytes, IPV6_BLOCKED);
      if (reason) return reason;
      return inPrefix(bytes, IPV6_GLOBAL_UNICAST) ? undefined : 'reserved';
    }
    default:
      return 'invalid';
  }
}
