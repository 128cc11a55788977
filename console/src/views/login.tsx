import { useState } from 'preact/hooks';
import { getMe, login } from '@sdk';
import { unwrap, messageOf } from '../api';
import { useModal } from '../components/modal';
import { ErrorText } from '../components/notice';
import { Page } from '../components/page';
import { navigate } from '../router';
import { forgetKeptUploads, forgetOthersKeptUploads } from '../uploads';
import { endSession, sessionEndReason, startSession } from '../session';

/** The login form: the API's own login route, by email or username (`who` filled in, if given). */
function LoginForm({ who: named = '' }: { who?: string }) {
  const [who, setWho] = useState(named);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const name = who.trim();
    try {
      const token = await unwrap(
        login({
          body: name.includes('@') ? { email: name, password } : { username: name, password },
        }),
      );
      const expiresAt = Date.now() + token.expires_in * 1000;
      // Who they are at the service, with the new token: the user id makes an e-mail address and
      // a username one person (a view kept through a login asked again is theirs by either). If
      // it is not read now, the role is read once in (app.tsx) and the login's name stands.
      const me = await unwrap(
        getMe({ auth: (scheme) => (scheme.scheme === 'bearer' ? token.access_token : undefined) }),
      ).catch(() => undefined);
      startSession({
        token: token.access_token,
        expiresAt,
        who: name,
        userId: me?.user?.id,
        role: me?.role,
        scopes: me?.scopes,
      });
      // Known only by the name typed, they may be a kept file's person by another spelling.
      if (me?.user?.id !== undefined) forgetOthersKeptUploads();
    } catch (caught) {
      setError(messageOf(caught));
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} class="stack">
      <div class="field">
        <label for="login-who">Email or username</label>
        <input
          id="login-who"
          name="username"
          autocomplete="username"
          required
          value={who}
          onInput={(e) => setWho(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          autofocus={named !== ''}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </div>
      {error && <ErrorText>{error}</ErrorText>}
      <button type="submit" class="button primary" disabled={busy}>
        {busy ? 'Logging in…' : 'Log in'}
      </button>
    </form>
  );
}

/** The login page, on the console's first visit and after a logout. */
export function Login() {
  const ended = sessionEndReason();
  return (
    <main id="main" class="login">
      <div class="login-card">
        <p class="brand brand-large" aria-hidden="true">
          <span class="brand-mark" /> Product images
        </p>
        <Page title="Log in to the console">
          {ended && <p class="notice notice-info">{ended}</p>}
          <LoginForm />
          <p class="hint">
            On a first start the service prints the administrator&rsquo;s password once (username{' '}
            <code>admin</code>).
          </p>
        </Page>
      </div>
    </main>
  );
}

/**
 * The login asked again, over the view of a session that ended on its own (a modal <dialog>: the
 * view behind it is kept as it was, edits and all, and comes back once the person is in again).
 * Escape does not dismiss it; "Log out" leaves the view for the login page.
 */
export function LoginAgain({ who }: { who: string }) {
  const { dialog, shown } = useModal();
  // Chromium closes a dialog on a repeated Escape whatever its cancel handler says (a page may
  // refuse only one Escape between two uses of it): open again, or the inert view is a dead end.
  const reopen = () => {
    const element = dialog.current;
    if (shown() && element?.isConnected && !element.open) element.showModal();
  };
  return (
    <dialog
      ref={dialog}
      class="confirm login-again"
      aria-labelledby="login-again-title"
      onCancel={(event) => event.preventDefault()}
      onClose={reopen}
    >
      <h2 id="login-again-title">Log in again</h2>
      <p class="notice notice-info">
        {sessionEndReason()} What you were doing is kept: it is there once you are in.
      </p>
      <LoginForm who={who} />
      <div class="actions">
        <button
          type="button"
          class="button subtle"
          onClick={() => {
            forgetKeptUploads();
            endSession('You have logged out.');
            // As the header's Log out: the next person starts from the products.
            navigate('/products', { replace: true });
          }}
        >
          Log out
        </button>
      </div>
    </dialog>
  );
}
