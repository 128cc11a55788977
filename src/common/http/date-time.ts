import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsDate } from 'class-validator';

/**
 * RFC 3339's date-time (what OpenAPI's `format: date-time` names): a full date, `T`, a time and
 * an offset (`Z` or ±hh:mm), or a date alone (midnight UTC). `new Date(text)` takes far more and
 * moves it: `2030-02-30` became 2 March, `1/2/2030` was read in the server's time zone.
 */
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2})))?$/;

/** The instant `text` names, if it is an RFC 3339 date-time (or date) that exists; else undefined. */
export function parseDateTime(text: string): Date | undefined {
  const match = DATE_TIME.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((n) => Number(n ?? 0));
  const [offsetHours, offsetMinutes] = [Number(match[10] ?? 0), Number(match[11] ?? 0)];
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) {
    return undefined;
  }
  // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second);
  // A date that does not exist (30 February) rolls over into the next month: refused.
  if (local.getUTCFullYear() !== year || local.getUTCMonth() !== month - 1) return undefined;
  if (local.getUTCDate() !== day) return undefined;
  // RFC 3339 takes any number of digits; a Date holds milliseconds.
  const fraction = match[7] ? Number(match[7].slice(1, 4).padEnd(3, '0')) : 0;
  const offset = (match[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  return new Date(local.getTime() + fraction - offset * 60_000);
}

/**
 * A DTO field that takes an RFC 3339 date-time as a Date; anything else is refused with `message`
 * (400 validation_failed naming the field).
 */
export function DateTime(message: string): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }: { value: unknown }) =>
      typeof value === 'string' ? (parseDateTime(value) ?? value) : value,
    ),
    IsDate({ message }),
  );
}
