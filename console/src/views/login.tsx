import { useState } from 'preact/hooks';
import { login } from '@sdk';
import { unwrap, messageOf } from '../api';
import { ErrorText } from '../components/notice';
import { Page } from '../components/page';
import { sessionEndReason, startSession } from '../session';

/** The login form: the API's own login route, by email or username. */
export function Login() {
  const [who, setWho] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const ended = sessionEndReason();

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
      startSession({
        token: token.access_token,
        expiresAt: Date.now() + token.expires_in * 1000,
        who: name,
      });
    } catch (caught) {
      setError(messageOf(caught));
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <div class="login-card">
        <p class="brand brand-large" aria-hidden="true">
          <span class="brand-mark" /> Product images
        </p>
        <Page title="Log in to the console">
          {ended && <p class="notice notice-info">{ended}</p>}
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
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </div>
            {error && <ErrorText>{error}</ErrorText>}
            <button type="submit" class="button primary" disabled={busy}>
              {busy ? 'Logging in…' : 'Log in'}
            </button>
          </form>
          <p class="hint">
            On a first start the service prints the administrator&rsquo;s password once (username{' '}
            <code>admin</code>).
          </p>
        </Page>
      </div>
    </main>
  );
}
