import { entryState } from '../router';
import { Link } from './link';

/**
 * A cursor list's pager. "Previous page" goes back in the tab's history when this page was
 * reached by "Next page" there; a page opened by its address (a bookmark, a link in a new tab)
 * has no page before it in the tab, so it offers the first page instead of leaving the console.
 */
export function Pager({
  label,
  first,
  cursor,
  next,
}: {
  /** The navigation's accessible name: "Pages of products". */
  label: string;
  /** The list's first page: "/products". */
  first: string;
  /** This page's cursor (none on the first page). */
  cursor: string | null | undefined;
  /** Where the next page is, if there is one. */
  next: string | null | undefined;
}) {
  return (
    <nav class="pager" aria-label={label}>
      {cursor &&
        (entryState().nextPage ? (
          <button type="button" class="button" onClick={() => history.back()}>
            Previous page
          </button>
        ) : (
          <Link class="button" to={first}>
            First page
          </Link>
        ))}
      {next && (
        <Link class="button" to={next} state={{ nextPage: true }}>
          Next page
        </Link>
      )}
    </nav>
  );
}

/**
 * A numbered list's pager (`?page=2`: the API keys, the users), as the API pages them: a page's
 * neighbours are known by their numbers, so "Previous page" is a link too. A page that could not
 * be read (`listed` undefined: a number no page has) offers the first.
 */
export function NumberedPager({
  label,
  first,
  page,
  listed,
}: {
  label: string;
  /** The list's first page: "/users". */
  first: string;
  /** The page number asked for (NaN for an address with no number). */
  page: number;
  /** What the API answered of the page, once read. */
  listed: { page: number; per_page: number; total: number } | undefined;
}) {
  const at = (n: number) => (n === 1 ? first : `${first}?page=${n}`);
  const readable = listed !== undefined && Number.isInteger(page) && page >= 1;
  const next = listed && listed.page * listed.per_page < listed.total ? listed.page + 1 : undefined;
  return (
    <nav class="pager" aria-label={label}>
      {readable && page > 1 && (
        <Link class="button" to={at(page - 1)}>
          Previous page
        </Link>
      )}
      {!readable && page !== 1 && (
        <Link class="button" to={first}>
          First page
        </Link>
      )}
      {next && (
        <Link class="button" to={at(next)}>
          Next page
        </Link>
      )}
    </nav>
  );
}
