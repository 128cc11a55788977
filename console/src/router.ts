// Client-side routes under /console/ (the service answers every such path with the page), on the
// History API: links are real links, and back and forward work.
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/console';
const listeners = new Set<() => void>();

window.addEventListener('popstate', () => {
  endFilterRun();
  for (const listener of listeners) listener();
});

/**
 * Goes to `to` (a path below /console, with its query), as a link would; `state` is kept with the
 * new history entry (see {@link entryState}).
 */
export function navigate(
  to: string,
  options: { replace?: boolean; state?: EntryState } = {},
): void {
  const url = BASE + to;
  const state = options.state ?? null;
  if (state?.filterRun === undefined) endFilterRun();
  if (options.replace) history.replaceState(state, '', url);
  else history.pushState(state, '', url);
  for (const listener of listeners) listener();
}

/** What a history entry knows of how it was reached. */
export interface EntryState {
  /** Reached by a list's "Next page": the entry before it is that list's previous page. */
  nextPage?: boolean;
  /** Reached by changing a list's filter (navigateFilter): the run of changes that made it. */
  filterRun?: number;
}

/** How long a filter left alone ends its run of changes: the next change is an entry of its own. */
const FILTER_QUIET_MS = 1000;
/** The run of filter changes going on (its number), and when its quiet time ends it. */
let filterRun: { id: number; quiet: number } | undefined;
let filterRuns = 0;

function endFilterRun(): void {
  if (filterRun) window.clearTimeout(filterRun.quiet);
  filterRun = undefined;
}

/**
 * A list's filter changed (a select's value): one history entry for a run of changes, so that
 * Back leaves the list as it was before filtering, not through every value passed on the way
 * (a select changes, and says so, at each arrow key pressed on it). A run ends after a quiet
 * second, or with any other navigation (a link, Back): a later change is a new entry, which Back
 * leaves for the filter before it (a run that never ended replaced one entry for good).
 */
export function navigateFilter(to: string): void {
  const run = filterRun?.id;
  const inRun = run !== undefined && (history.state as EntryState | null)?.filterRun === run;
  const id = inRun ? run : ++filterRuns;
  if (filterRun) window.clearTimeout(filterRun.quiet);
  navigate(to, { replace: inRun, state: { filterRun: id } });
  filterRun = { id, quiet: window.setTimeout(endFilterRun, FILTER_QUIET_MS) };
}

/** The current history entry's state (empty when it was opened by its address). */
export function entryState(): EntryState {
  return (history.state as EntryState | null) ?? {};
}

export interface Location {
  /** The path below /console, without a trailing slash: "/products/abc". */
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  const path = location.pathname.startsWith(BASE)
    ? location.pathname.slice(BASE.length).replace(/\/+$/, '')
    : '';
  return { path, query: new URLSearchParams(location.search) };
}

/** The current location, re-rendering the caller when it changes. */
export function useLocation(): Location {
  const [value, setValue] = useState(current);
  useEffect(() => {
    const listener = () => setValue(current());
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, []);
  return value;
}

/** `/products/:id`-style patterns: the named segments when `path` matches. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const source = pattern.replace(/:(\w+)/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const found = new RegExp(`^${source}$`).exec(path);
  if (!found) return undefined;
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1])]));
}

/** The page a numbered list's address asks for (`?page=2`): 1 without one, NaN for no number. */
export function pageAsked(location: Location): number {
  const asked = location.query.get('page');
  return asked === null ? 1 : Number(asked);
}
