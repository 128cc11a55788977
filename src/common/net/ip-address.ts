/**
 * IP addresses parsed to bytes, strictly: what the outbound-fetch policy compares against its
 * prefixes (images/intake/import/address-policy.ts) and what the login limits count a client by
 * (auth/client-network.ts). Pure.
 */

/**
 * Parses a strict dotted-quad IPv4 address (four decimal parts 0–255, no leading zeros, so that
 * an octal-looking `0177` can never be read as decimal 177) into 4 bytes.
 */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const value = parseDecimalOctet(parts[i]);
    if (value === undefined) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

function parseDecimalOctet(part: string): number | undefined {
  if (part.length === 0 || part.length > 3) return undefined;
  if (part.length > 1 && part.charCodeAt(0) === 0x30 /* '0' */) return undefined;
  let value = 0;
  for (let i = 0; i < part.length; i++) {
    const code = part.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return undefined;
    value = value * 10 + (code - 0x30);
  }
  return value <= 255 ? value : undefined;
}

function parseHexGroup(group: string): number | undefined {
  if (group.length === 0 || group.length > 4) return undefined;
  let value = 0;
  for (let i = 0; i < group.length; i++) {
    const digit = hexDigit(group.charCodeAt(i));
    if (digit === undefined) return undefined;
    value = value * 16 + digit;
  }
  return value;
}

function hexDigit(code: number): number | undefined {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10; // a-f
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10; // A-F
  return undefined;
}

/** Parses one side of a `::` (or a whole address without one) into 16-bit groups. */
function parseGroups(text: string, mayEndWithIPv4: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (mayEndWithIPv4 && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIPv4(part);
      if (!v4) return undefined;
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else {
      const group = parseHexGroup(part);
      if (group === undefined) return undefined;
      groups.push(group);
    }
  }
  return groups;
}

/**
 * Parses an IPv6 address (without brackets or zone) into 16 bytes: expands `::` and accepts an
 * embedded dotted quad in the last 32 bits (`::ffff:127.0.0.1`).
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0], false);
    const tail = parseGroups(halves[1], true);
    if (!head || !tail) return undefined;
    // `::` stands for at least one group of zeros.
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}
