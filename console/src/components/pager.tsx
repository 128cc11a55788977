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
