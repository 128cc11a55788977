import type { RefObject } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/**
 * A native <dialog> shown modal while its component is rendered (the focus stays in it). Once it
 * goes, the focus goes back to where it was (the button that asked), where that is still there
 * to take it. `shown()` says whether the component is still rendered: a `close` event that comes
 * after it went must not open the dialog again.
 */
export function useModal(): { dialog: RefObject<HTMLDialogElement | null>; shown: () => boolean } {
  const dialog = useRef<HTMLDialogElement>(null);
  const gone = useRef(false);
  useEffect(() => {
    const element = dialog.current;
    const asked = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (element && !element.open) element.showModal();
    return () => {
      gone.current = true;
      element?.close();
      if (asked?.isConnected) asked.focus();
    };
  }, []);
  return { dialog, shown: () => !gone.current };
}
