import { useEffect, useState } from 'preact/hooks';
import { CallFailed, messageOf } from '../api';
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
      <ReadError message={messageOf(error)} retry={retry} />
      <p>
        <Link to={back.to}>{back.label}</Link>.
      </p>
    </Page>
  );
}

/**
 * A read that failed, said as an alert, with a "Try again" button when reading again may help
 * (`retry`): without it, only reloading the browser would. Shown again after a retry that failed
 * too (the view showed it loading meanwhile), it is announced again, and the focus, fallen to the
 * document with the button that was pressed, goes to the view's heading.
 */
export function ReadError({ message, retry }: { message: string; retry?: () => void }) {
  useEffect(() => keepFocusInPage(), []);
  return (
    <div class="read-error">
      <ErrorText>{message}</ErrorText>
      {retry && (
        <button type="button" class="button" onClick={retry}>
          Try again
        </button>
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
