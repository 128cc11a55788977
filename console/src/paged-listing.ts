import { useEffect, useState } from 'preact/hooks';
import { readInSession, unwrap, type Outcome } from './api';
import { keepFocusInPage } from './components/page';
import { readFailure, useRetry, type ReadFailure } from './components/read-failed';

/** A page read, or why it failed (`retry`: whether reading again may help). */
export interface PagedListing<T> {
  listed: T | undefined;
  error: ReadFailure | undefined;
  /** The person's "Try again": reads the page again. */
  retry: () => void;
  /** Reads the page again after a change made here, the listing shown meanwhile. */
  reload: () => void;
}

/**
 * The page `page` of a list read by numbers (the API keys, the users): what was read for another
 * page is not shown as this one's, a read the person has left is dropped, and the focus stays in
 * the view when the listing arrives.
 */
export function usePagedListing<T>(
  page: number,
  read: (page: number) => Promise<Outcome<T>>,
): PagedListing<T> {
  const [listing, setListing] = useState<{ of: number; value: T }>();
  const [failed, setFailed] = useState<{ of: number } & ReadFailure>();
  const [attempt, retry] = useRetry(setFailed);
  const [changes, setChanges] = useState(0);
  const listed = listing && Object.is(listing.of, page) ? listing.value : undefined;
  const error = failed && Object.is(failed.of, page) ? failed : undefined;

  useEffect(() => {
    let current = true;
    readInSession(() => unwrap(read(page))).then(
      (value) => {
        if (!current) return;
        setListing({ of: page, value });
        setFailed(undefined);
      },
      (caught: unknown) => current && setFailed({ of: page, ...readFailure(caught) }),
    );
    return () => {
      current = false;
    };
  }, [page, attempt, changes]);

  useEffect(() => {
    if (listed) keepFocusInPage();
  }, [listed]);

  return { listed, error, retry, reload: () => setChanges((n) => n + 1) };
}
