/**
 * HTTP-dates (RFC 9110 5.6.7) as conditional requests carry them: If-Modified-Since,
 * If-Unmodified-Since and If-Range. A recipient must read all three forms, and must ignore such a
 * field whose value is none of them (RFC 9110 13.1.3, 13.1.4): `Date.parse` takes `2099` or
 * `2099-01-01` for dates, and an asctime date in the machine's time zone.
 */

const DAYS = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun';
const LONG_DAYS = 'Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

/** `Sun, 06 Nov 1994 08:49:37 GMT`: day, month, year, time. */
const IMF_FIXDATE = new RegExp(`^(?:${DAYS}), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete): day, month, two-digit year, time. */
const RFC_850 = new RegExp(`^(?:${LONG_DAYS}), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` (obsolete, asctime): month, day, time, year. */
const ASCTIME = new RegExp(`^(?:${DAYS}) (${MONTH}) ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/** The time an HTTP-date names, in milliseconds since 1970; undefined for anything else. */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let match = IMF_FIXDATE.exec(text);
  if (match) return utc(match[3], match[2], match[1], match.slice(4, 7));
  match = RFC_850.exec(text);
  if (match) return utc(fullYear(Number(match[3])), match[2], match[1], match.slice(4, 7));
  match = ASCTIME.exec(text);
  if (match) return utc(match[6], match[1], match[2], match.slice(3, 6));
  return undefined;
}

/** A two-digit year: the latest one ending so that is not more than 50 years ahead (5.6.7). */
function fullYear(twoDigits: number): number {
  const now = new Date().getUTCFullYear();
  const year = Math.floor(now / 100) * 100 + twoDigits;
  return year > now + 50 ? year - 100 : year;
}

function utc(
  year: string | number,
  month: string,
  day: string,
  clock: string[],
): number | undefined {
  const [y, m, d] = [Number(year), MONTHS.indexOf(month), Number(day)];
  const [hour, minute, second] = clock.map(Number);
  // No 31 February (Date.UTC would roll it over into March), hour 24 or minute 60; a leap
  // second (60, which RFC 9110 allows) is the second before it.
  if (new Date(Date.UTC(y, m, d)).getUTCDate() !== d || hour > 23 || minute > 59) return undefined;
  return second <= 60 ? Date.UTC(y, m, d, hour, minute, Math.min(second, 59)) : undefined;
}

/**
 * An If-Modified-Since's time, or undefined where it is to be ignored: not an HTTP-date, or a
 * date later than the server's current time, which RFC 9110 (13.1.3) calls invalid (no copy
 * can have been last modified then; taken as it is, every later change would be answered 304).
 */
export function parseModifiedSince(
  value: string | undefined,
  now: number = Date.now(),
): number | undefined {
  const time = parseHttpDate(value);
  return time !== undefined && time <= now ? time : undefined;
}
