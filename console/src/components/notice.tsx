import type { ComponentChildren } from 'preact';

export interface NoticeValue {
  kind: 'info' | 'success' | 'error';
  text: string;
}

/**
 * Messages about what just happened. The live region is always in the page, so that a screen
 * reader announces what is put in it; errors are assertive.
 */
export function Notice({ notice }: { notice: NoticeValue | undefined }) {
  const kind = notice?.kind ?? 'info';
  return (
    <div
      class={`notice notice-${kind}${notice ? '' : ' notice-empty'}`}
      role={kind === 'error' ? 'alert' : 'status'}
    >
      {notice?.text}
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
