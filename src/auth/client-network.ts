import { isIP } from 'node:net';

/**
 * The network a login attempt is counted against: an IPv4 address itself (an IPv4-mapped IPv6
 * address as the IPv4 one), an IPv6 address's /64 (`2001:db8:1:2::/64`). A /64 is one subscriber's
 * or one host's: SLAAC and privacy extensions give a client a new address in it every day, and its
 * owner every one of its 2^64, so counted per address an IPv6 client would have no login limit at
 * all. Anything else (no address known) is left as it is. Pure.
 */
export function clientNetwork(address: string): string {
  if (isIP(address) !== 6) return address;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1];
  return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address, in lower-case hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  const bare = address.split('%')[0];
  const [head, tail] = bare.split('::');
  // A dotted IPv4 tail (`64:ff9b::192.0.2.1`) stands for the last two groups.
  const groups = (part: string | undefined) =>
    (part ? part.split(':') : []).flatMap((group) => (group.includes('.') ? ['0', '0'] : [group]));
  const first = groups(head);
  const last = tail === undefined ? [] : groups(tail);
  const zeros = tail === undefined ? [] : Array<string>(8 - first.length - last.length).fill('0');
  return [...first, ...zeros, ...last].map((group) => parseInt(group, 16).toString(16));
}
