import type { ComponentChildren } from 'preact';
import { BASE, navigate, type EntryState } from '../router';

interface Props {
  /** A path below /console: "/products/abc". */
  to: string;
  class?: string;
  'aria-current'?: 'page';
  'aria-label'?: string;
  /** Kept with the history entry the link makes (not when it is opened in a new tab). */
  state?: EntryState;
  children: ComponentChildren;
}

/** A real link (it opens in a new tab, and can be copied), followed in the page when clicked. */
export function Link({ to, state, children, ...rest }: Props) {
  const follow = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(to, { state });
  };
  return (
    <a {...rest} href={BASE + to} onClick={follow}>
      {children}
    </a>
  );
}
