/** GTIN-8, -12 (UPC-A), -13 (EAN-13) and -14, as digits only. */
const GTIN = /^(\d{8}|\d{12}|\d{13}|\d{14})$/;

/** GS1 check digit of the digits before it: weights 3,1,3,… from the right. */
export function gtinCheckDigit(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    const digit = body.charCodeAt(body.length - 1 - i) - 48;
    sum += digit * (i % 2 === 0 ? 3 : 1);
  }
  return (10 - (sum % 10)) % 10;
}

/**
 * A GTIN of any of the four lengths, check digit verified, as the zero-padded GTIN-14 it is
 * stored and compared as (Closient). Undefined when malformed or the check digit is wrong.
 */
export function normalizeGtin(input: string): string | undefined {
  const value = input.trim();
  if (!GTIN.test(value)) return undefined;
  const body = value.slice(0, -1);
  if (gtinCheckDigit(body) !== Number(value[value.length - 1])) return undefined;
  return value.padStart(14, '0');
}
