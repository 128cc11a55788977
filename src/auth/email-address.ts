import { domainToUnicode } from 'node:url';
import { ValidateBy } from 'class-validator';

/** The longest address the `users.email` column holds, in characters (code points). */
export const MAX_EMAIL_LENGTH = 320;

/**
 * An email address as accounts are stored, found and rate-limited by it, so that one address has
 * one spelling: trimmed, in Unicode's composed form (NFC: "é" typed as e plus a combining accent,
 * as macOS and some keyboards send it, is the "é" of one code point), lower-cased, and its domain
 * as IDNA maps it (`xn--bcher-kva.example`, `BÜCHER.example` and the full-width `ｅｘａｍｐｌｅ`
 * are `bücher.example` and `example`, as DNS resolves them). A domain IDNA refuses (an address
 * literal such as `[127.0.0.1]`) is only lower-cased. The mapping can lengthen an address (IDNA
 * spells the square `㌖` out as a word): its length is checked on this spelling. Idempotent: a
 * spelling is its own. Pure.
 */
export function canonicalEmail(email: string): string {
  const composed = email.trim().normalize('NFC');
  const at = composed.lastIndexOf('@');
  if (at < 0) return composed.toLowerCase().normalize('NFC');
  const domain = composed.slice(at + 1);
  const mapped = domainToUnicode(domain) || domain;
  // Composed again once lower-cased: a few capitals lower-case into a sequence that composes
  // further (Greek Ϊ and an acute accent: ΐ, composed ΐ). Without it the spelling would not be
  // its own spelling, and the one login finds an account by (validated, then looked up: twice)
  // would not be the one the login limit counts it by (once).
  return `${composed.slice(0, at).toLowerCase()}@${mapped.toLowerCase()}`.normalize('NFC');
}

/** Format characters (zero-width space, joiners, bidi controls…): invisible in an address. */
const INVISIBLE = /\p{Cf}/u;

/**
 * An address a person can read back: no format character, with which `ann\u200b@example.com`
 * would be an account that looks like `ann@example.com` but is another. Non-strings are left to
 * @IsEmail.
 */
export function VisibleEmail(): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isVisibleEmail',
      validator: { validate: (value) => typeof value !== 'string' || !INVISIBLE.test(value) },
    },
    {
      message:
        '$property must not contain invisible characters (a zero-width space, a bidi control…)',
    },
  );
}
