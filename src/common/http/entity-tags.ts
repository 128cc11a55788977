/**
 * Whether If-None-Match names the object as it is (RFC 9110 13.1.2: the answer to a GET or HEAD
 * is then 304): `*` names any object that exists; otherwise any tag of the list, compared weakly
 * (`W/"x"` and `"x"` are the same tag here). Cutting the list at every comma is safe although a
 * tag may hold one: each piece of a cut tag keeps an unmatched quote, and never equals a tag.
 */
export function noneMatchHolds(ifNoneMatch: string, etag: string | undefined): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  if (etag === undefined) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => opaque(tag) === opaque(etag));
}
