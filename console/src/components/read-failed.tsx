import { useEffect, useState } from 'preact/hooks';
import { CallFailed, messageOf, retryable } from '../api';
import { logOut } from '../log-out';
import { useSession } from '../session';
import { Link } from './link';
import { ErrorText } from './notice';
import { keepFocusInPage, Page } from './page';

interface Props {
  /** What the address names, as a heading says it: "Product", "Image", "Asset". */
  thing: string;
  /** Where the person goes from here: the list or gallery the thing belongs to. */
  back: { to: string; label: string };
  error: unknown;
  /** Reads it again (the view shows it loading meanwhile). */
  retry: () => void;
}

/**
 * A view whose read failed. An address that names nothing (404), or names it in a form no id
 * has (400: a mistyped or cut link), is a page saying so in words, with the way back, rather
 * than the service's words about a path parameter; any other failure (the service busy or
 * briefly unavailable, no answer) is said as it is, with a button to read it again and the same
 * way back.
 */
export function ReadFailed({ thing, back, error, retry }: Props) {
  const missing = error instanceof CallFailed && (error.status === 404 || error.status === 400);
  if (missing)
    return (
      <Page title={`${thing} not found`}>
        <p>
          Nothing is at this address: the {thing.toLowerCase()} may have been deleted, or the link
          is mistyped or cut short. <Link to={back.to}>{back.label}</Link>.
        </p>
      </Page>
    );
  return (
    <Page title={thing}>
      <ReadError failure={readFailure(error)} retry={retry} />
      <p>
        <Link to={back.to}>{back.label}</Link>.
      </p>
    </Page>
  );
}

/** A read that failed, as a view shows it. */
export interface ReadFailure {
  message: string;
  /**
   * Whether reading again may help: a failure that passes (no answer, a 5xx, a 429), or a refusal
   * (403), which an administrator may lift meanwhile (the service reads the role at each call).
   */
  retry: boolean;
  /** Refused (403): the account lacks the permission to read it. */
  refused: boolean;
}

/** What a view says of a read that failed with `caught`. */
export function readFailure(caught: unknown): ReadFailure {
  const refused = caught instanceof CallFailed && caught.status === 403;
  return { message: messageOf(caught), retry: refused || retryable(caught), refused };
}

/**
 * A read that failed, said as an alert, with a "Try again" button when reading again may help
 * (`failure.retry`, and a `retry` given): without it, only reloading the browser would. A refusal
 * (403) says that the account lacks the permission, and offers to log in as someone else (the
 * address stays: the page opens for them). Shown again after a retry that failed too (the view
 * showed it loading meanwhile), it is announced again, and the focus, fallen to the document with
 * the button that was pressed, goes to the view's heading.
 */
export function ReadError({ failure, retry }: { failure: ReadFailure; retry?: () => void }) {
  const session = useSession();
  useEffect(() => keepFocusInPage(), []);
  return (
    <div class="read-error">
      <ErrorText>
        {failure.message}
        {failure.refused && (
          <>
            {' '}
            Your account
            {session && (
              <>
                , <bdi>{session.who}</bdi>,
              </>
            )}{' '}
            lacks the permission to see this. An administrator can give it to you (then try again),
            or log in as someone who has it.
          </>
        )}
      </ErrorText>
      {((retry && failure.retry) || failure.refused) && (
        <div class="actions">
          {retry && failure.retry && (
            <button type="button" class="button" onClick={retry}>
              Try again
            </button>
          )}
          {failure.refused && (
            <button
              type="button"
              class="button subtle"
              onClick={() =>
                logOut('Log in as someone who may see that page: it opens once you are in.')
              }
            >
              Log in as someone else
            </button>
          )}
        </div>
      )}
    </div>
  );
}

/**
 * A read made again at the person's asking: the number of retries (a dependency of the read's
 * effect), and the retry, which clears the failure (the view shows it loading meanwhile).
 */
export function useRetry(clearFailure: (none: undefined) => void): [number, () => void] {
  const [attempt, setAttempt] = useState(0);
  const retry = () => {
    clearFailure(undefined);
    setAttempt((n) => n + 1);
  };
  return [attempt, retry];
}
