/** A base to resolve a request target's query against: it is never requested. */
const BASE = 'http://request-target.invalid/';

/** A request's target (`request.url`) as the router and a redirect read it. */
export interface RequestTarget {
  /** Up to the first `?` or `#`, where the router ends it, as sent (percent-encoding kept). */
  path: string;
  /** `?…` as a URL parser reads it (up to a fragment), or '' when there is none. */
  query: string;
}

/**
 * Splits a request's target into its path and its query, as the router (find-my-way) splits it and
 * as a URL parser reads the query: a fragment, which no HTTP client sends but a raw request line
 * may hold (`/a#f?x=1`), is neither (the router's path ends at `#`; `?x=1` there is no query to
 * carry to a redirect's Location). Pure.
 */
export function requestTarget(url: string): RequestTarget {
  const end = url.search(/[?#]/);
  if (end === -1) return { path: url, query: '' };
  // Starting with "?" or "#", a reference that resolves against any base: parsing cannot fail.
  return { path: url.slice(0, end), query: new URL(url.slice(end), BASE).search };
}
