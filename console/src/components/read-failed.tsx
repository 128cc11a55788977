import { CallFailed, messageOf } from '../api';
import { Link } from './link';
import { ErrorText } from './notice';
import { Page } from './page';

interface Props {
  /** What the address names, as a heading says it: "Product", "Image", "Asset". */
  thing: string;
  /** Where the person goes from here: the list or gallery the thing belongs to. */
  back: { to: string; label: string };
  error: unknown;
}

/**
 * A view whose read failed. An address that names nothing (404), or names it in a form no id
 * has (400: a mistyped or cut link), is a page saying so in words, with the way back, rather
 * than the service's words about a path parameter; any other failure is said as it is, with the
 * same way back.
 */
export function ReadFailed({ thing, back, error }: Props) {
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
      <ErrorText>{messageOf(error)}</ErrorText>
      <p>
        <Link to={back.to}>{back.label}</Link>.
      </p>
    </Page>
  );
}
