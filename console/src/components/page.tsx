import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import { isolate } from '../format';

interface Props {
  title: string;
  /** A line under the heading. */
  lead?: ComponentChildren;
  children: ComponentChildren;
}

/**
 * A view: its heading, which takes the focus when the view opens (a screen reader then reads
 * where the link led, and Tab goes on from there), and the document's title.
 */
export function Page({ title, lead, children }: Props) {
  const heading = useRef<HTMLHeadingElement>(null);
  // Set with the heading, in the same task as its commit: with a plain effect (after paint) the
  // new heading showed for a moment under the previous view's title, which is what a screen
  // reader or a test reading both at once met.
  useLayoutEffect(() => {
    // The title is plain text: a name in it is isolated, as `<bdi>` isolates it in the page.
    document.title = `${isolate(title)} · Console · Product images`;
  }, [title]);
  useEffect(() => {
    heading.current?.focus({ preventScroll: true });
  }, []);
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {lead && <p class="lead">{lead}</p>}
      </div>
      {children}
    </>
  );
}

/**
 * After a view's content was replaced under the focus (a next page's link, gone while the page
 * loads: the focus fell to the document), the view's heading takes it, as when the view opened.
 */
export function keepFocusInPage(): void {
  const focused = document.activeElement;
  if (focused === null || focused === document.body) {
    document.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
  }
}
