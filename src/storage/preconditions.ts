import type { IncomingHttpHeaders } from 'node:http';
import { parseHttpDate } from './http-date';

/** What a stored object is now, as its store describes it. */
export interface CurrentValidators {
  etag: string | undefined;
  lastModified: Date | undefined;
}

/**
 * Whether the request's If-Match or, without it, If-Unmodified-Since fails for the object as it
 * is (RFC 9110 13.2.2, steps 1 and 2: the answer is then 412). If-Match compares strongly (`*`
 * matches any object that exists); an If-Unmodified-Since that is not a date is ignored.
 */
export function preconditionFails(
  headers: IncomingHttpHeaders,
  current: CurrentValidators,
): boolean {
  const ifMatch = first(headers['if-match']);
  if (ifMatch !== undefined) {
    if (ifMatch.trim() === '*') return false;
    const strong = current.etag !== undefined && !current.etag.startsWith('W/');
    return !(strong && ifMatch.split(',').some((tag) => tag.trim() === current.etag));
  }
  const since = parseHttpDate(first(headers['if-unmodified-since']));
  if (since === undefined || !current.lastModified) return false;
  return Math.floor(current.lastModified.getTime() / 1000) > since / 1000;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
