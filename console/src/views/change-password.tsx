import type { ComponentChildren, RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { changeMyPassword, type ProblemDetailsDto } from '@sdk';
import { CallFailed, messageOf, unwrap, whileTokenChanges } from '../api';
import { useModal } from '../components/modal';
import { ErrorText } from '../components/notice';
import { currentToken, renewSession } from '../session';

type Field = 'current' | 'next' | 'confirm';
type Errors = Partial<Record<Field | 'form', string>>;

/**
 * The person's own password changed (POST /api/v1/auth/password), in a modal <dialog> opened
 * from the header: Escape or Cancel closes it (once the change on its way, if any, is answered,
 * since the person must learn whether it was made). On success the service ends every session of
 * theirs, this one's token too, and answers a new token, which this tab takes at once: its view
 * and uploads go on. The passwords are kept in the form only (never in a URL, storage or a log).
 */
export function ChangePassword({ onClose }: { onClose: () => void }) {
  const { dialog, shown } = useModal();
  const [changed, setChanged] = useState(false);
  // While the change is on its way, Escape waits for its answer, which the person must see.
  const sending = useRef(false);
  return (
    <dialog
      ref={dialog}
      class="confirm change-password"
      aria-labelledby="change-password-title"
      onCancel={(event) => {
        event.preventDefault();
        if (!sending.current) onClose();
      }}
      // Chromium closes a dialog on a repeated Escape whatever its cancel handler says: open again
      // while the answer is awaited, else the view follows (no closed dialog left rendered).
      onClose={() => {
        const element = dialog.current;
        if (!shown() || !element?.isConnected || element.open) return;
        if (sending.current) element.showModal();
        else onClose();
      }}
    >
      <h2 id="change-password-title">Change password</h2>
      {changed ? (
        <Changed onClose={onClose} />
      ) : (
        <ChangePasswordForm
          onChanged={() => setChanged(true)}
          onCancel={onClose}
          onSending={(on) => (sending.current = on)}
        />
      )}
    </dialog>
  );
}

/** The change done: said, and read out with the button that takes the focus (the form went). */
function Changed({ onClose }: { onClose: () => void }) {
  const done = useRef<HTMLButtonElement>(null);
  useEffect(() => done.current?.focus(), []);
  return (
    <>
      <p class="notice notice-success" role="status" id="password-changed">
        Your password has been changed. Every other session of yours (other tabs, other browsers and
        devices) has been logged out: log in there with the new password. This one goes on.
      </p>
      <div class="actions">
        <button
          type="button"
          class="button primary"
          id="password-changed-done"
          ref={done}
          aria-describedby="password-changed"
          onClick={onClose}
        >
          Done
        </button>
      </div>
    </>
  );
}

/** "Try again in 42 seconds (at 10:31:05)." */
function whenToRetry(ms: number | undefined): string {
  if (ms === undefined) return 'Wait a moment and try again.';
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString();
  const span = seconds < 120 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`;
  return `Try again in ${span} (at ${at}).`;
}

/** What the service said of the new password (`new_password must be longer than…`), in words. */
function newPasswordReason(problem: ProblemDetailsDto | undefined): string | undefined {
  const reasons = (problem?.errors ?? [])
    .filter((error) => error.field === 'new_password')
    .map((error) => error.message.replace(/^new_password /, 'The new password '));
  if (reasons.length === 0) return undefined;
  return reasons.map((reason) => (/[.!?]$/.test(reason) ? reason : `${reason}.`)).join(' ');
}

/** Where each refusal is said: on its field, or for the whole form. */
function errorsOf(failed: unknown): Errors {
  if (!(failed instanceof CallFailed)) return { form: messageOf(failed) };
  if (failed.code === 'wrong_current_password') {
    return { current: 'The current password is wrong. Nothing was changed.' };
  }
  const reason = failed.code === 'validation_failed' && newPasswordReason(failed.problem);
  if (reason) return { next: reason };
  if (failed.status === 429 || failed.status === 503) {
    const lead =
      failed.code === 'login_rate_limited'
        ? 'Too many password attempts (logins count too).'
        : failed.message;
    return { form: `${lead} ${whenToRetry(failed.retryAfterMs)}` };
  }
  return { form: failed.message };
}

interface FormProps {
  onChanged: () => void;
  onCancel: () => void;
  onSending: (on: boolean) => void;
}

function ChangePasswordForm({ onChanged, onCancel, onSending }: FormProps) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [waitMs, setWaitMs] = useState(0);
  const fields = {
    current: useRef<HTMLInputElement>(null),
    next: useRef<HTMLInputElement>(null),
    confirm: useRef<HTMLInputElement>(null),
  };
  // After a 429, the button waits as long as the service said.
  useEffect(() => {
    if (waitMs <= 0) return;
    const timer = setTimeout(() => setWaitMs(0), Math.min(waitMs, 86_400_000));
    return () => clearTimeout(timer);
  }, [waitMs]);

  const refuse = (found: Errors) => {
    setErrors(found);
    const field = (['current', 'next', 'confirm'] as const).find((name) => found[name]);
    if (field) fields[field].current?.select();
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    if (next !== confirm) {
      refuse({ confirm: 'The two new passwords differ: type the same one in both fields.' });
      return;
    }
    setBusy(true);
    onSending(true);
    setErrors({});
    try {
      const body = { current_password: current, new_password: next };
      const sentWith = currentToken();
      await whileTokenChanges('/api/v1/auth/password', async () => {
        const token = await unwrap(changeMyPassword({ body }));
        // Taken whether or not the dialog is still open: the old token no longer works.
        renewSession(sentWith, token.access_token, Date.now() + token.expires_in * 1000);
      });
      onChanged();
    } catch (failed) {
      setBusy(false);
      if (failed instanceof CallFailed && failed.status === 429) {
        setWaitMs(failed.retryAfterMs ?? 0);
      }
      refuse(errorsOf(failed));
    } finally {
      onSending(false);
    }
  };

  return (
    <form method="post" class="stack" onSubmit={(e) => void submit(e)}>
      <PasswordField
        id="current-password"
        label="Current password"
        autocomplete="current-password"
        value={current}
        onInput={setCurrent}
        error={errors.current}
        input={fields.current}
        autofocus
      />
      <PasswordField
        id="new-password"
        label="New password"
        autocomplete="new-password"
        value={next}
        onInput={setNext}
        error={errors.next}
        input={fields.next}
        hint="12 to 1024 characters."
      />
      <PasswordField
        id="confirm-password"
        label="Confirm new password"
        autocomplete="new-password"
        value={confirm}
        onInput={setConfirm}
        error={errors.confirm}
        input={fields.confirm}
      />
      {errors.form && <ErrorText>{errors.form}</ErrorText>}
      <p class="hint">Every other session of yours is logged out once it is changed.</p>
      <div class="actions">
        <button type="button" class="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="submit" class="button primary" disabled={busy || waitMs > 0}>
          {busy ? 'Changing…' : 'Change password'}
        </button>
      </div>
    </form>
  );
}

interface FieldProps {
  id: string;
  label: string;
  autocomplete: 'current-password' | 'new-password';
  value: string;
  onInput: (value: string) => void;
  error: string | undefined;
  input: RefObject<HTMLInputElement | null>;
  hint?: ComponentChildren;
  autofocus?: boolean;
}

/** A password input, its label, its hint and its error (said to a screen reader with it). */
function PasswordField({ id, label, error, hint, input, onInput, ...rest }: FieldProps) {
  const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        {...rest}
        ref={input}
        id={id}
        name={id}
        type="password"
        required
        aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="error-text" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
