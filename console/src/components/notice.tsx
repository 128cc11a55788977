import type { ComponentChildren } from 'preact';

export interface NoticeValue {
  kind: 'info' | 'success' | 'error';
  text: string;
}

/**
 * Messages about what just happened, in a box styled by their kind. Two live regions are always in
 * it, one polite (`status`) and one assertive (`alert`, for errors): the text is put in the one of
 * its kind and the other emptied. A region's role is never changed, as Chromium makes a new
 * accessible object of an element whose role changes, and what is put in it just then (a success
 * after an error) may go unannounced.
 */
export function Notice({ notice }: { notice: NoticeValue | undefined }) {
  const kind = notice?.kind ?? 'info';
  const error = kind === 'error';
  return (
    <div class={`notice notice-${kind}${notice ? '' : ' notice-empty'}`}>
      <div role="status">{error ? undefined : notice?.text}</div>
      <div role="alert">{error ? notice?.text : undefined}</div>
    </div>
  );
}

export function ErrorText({ children }: { children: ComponentChildren }) {
  return (
    <p class="error-text" role="alert">
      {children}
    </p>
  );
}
