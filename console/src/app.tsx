import { useEffect, useState } from 'preact/hooks';
import { getMe } from '@sdk';
import { unwrap } from './api';
import { Link } from './components/link';
import { logOut } from './log-out';
import { Page } from './components/page';
import { match, navigate, useLocation, type Location } from './router';
import {
  hasScope,
  interruptedSession,
  personOf,
  setSessionRole,
  useSession,
  type Scope,
} from './session';
import { ApiKeys } from './views/api-keys';
import { Assets } from './views/assets';
import { ChangePassword } from './views/change-password';
import { Gallery } from './views/gallery';
import { AssetDetail, ProductImageDetail } from './views/image-detail';
import { ImportRows } from './views/import-rows';
import { Jobs } from './views/jobs';
import { Login, LoginAgain } from './views/login';
import { Products } from './views/products';
import { Users } from './views/users';

/** The sections; one with a scope is offered to who holds it (the service decides each call). */
const NAV: { to: string; label: string; scope?: Scope }[] = [
  { to: '/products', label: 'Products' },
  { to: '/assets', label: 'Assets' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/api-keys', label: 'API keys', scope: 'api_keys:manage' },
  { to: '/users', label: 'Users', scope: 'users:manage' },
];

/** The view of a location; `key` makes a new view (and a fresh state) per address. */
function view(location: Location) {
  const { path } = location;
  let params: Record<string, string> | undefined;
  if (path === '' || path === '/products') return <Products location={location} />;
  if ((params = match('/products/:productId/images/:imageId', path))) {
    return <ProductImageDetail key={path} productId={params.productId} imageId={params.imageId} />;
  }
  if ((params = match('/products/:productId', path)))
    return <Gallery key={path} productId={params.productId} />;
  if (path === '/assets') return <Assets location={location} />;
  if ((params = match('/assets/:imageId', path)))
    return <AssetDetail key={path} imageId={params.imageId} />;
  if (path === '/jobs') return <Jobs />;
  if ((params = match('/jobs/imports/:importId', path)))
    return <ImportRows key={path} importId={params.importId} location={location} />;
  if (path === '/api-keys') return <ApiKeys location={location} />;
  if (path === '/users') return <Users location={location} />;
  return (
    <Page title="Not found">
      <p>
        Nothing is here. <Link to="/products">Go to the products</Link>.
      </p>
    </Page>
  );
}

export function App() {
  const session = useSession();
  const location = useLocation();
  const [changingPassword, setChangingPassword] = useState(false);
  const needsRole =
    session !== undefined && (session.role === undefined || session.scopes === undefined);
  // Who is logged in decides what the console offers: read once per session.
  useEffect(() => {
    if (!needsRole) return;
    unwrap(getMe()).then(
      (me) => setSessionRole(me.role, me.scopes),
      () => undefined,
    );
  }, [needsRole, session?.token]);
  // A session that ended on its own keeps its view, inert behind the login asked again.
  const interrupted = session ? undefined : interruptedSession();
  const shown = session ?? interrupted;
  if (!shown) return <Login />;
  const section = '/' + (location.path.split('/')[1] || 'products');
  return (
    <>
      {/* Keyed by who is in: someone else logging in gets a fresh view, not the last person's (the
          same person, by another login of theirs, keeps theirs). */}
      <div class="shell" key={personOf(shown)} inert={interrupted !== undefined}>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="top">
          <Link class="brand" to="/products">
            <span class="brand-mark" aria-hidden="true" /> Product images
          </Link>
          <nav aria-label="Main" class="nav">
            {NAV.filter((item) => !item.scope || hasScope(shown, item.scope)).map((item) => (
              <Link
                key={item.to}
                to={item.to}
                class="nav-link"
                aria-current={section === item.to ? 'page' : undefined}
              >
                {item.label}
              </Link>
            ))}
          </nav>
          <div class="who">
            <span class="who-name">{shown.who}</span>
            <button
              type="button"
              class="button small subtle"
              aria-haspopup="dialog"
              onClick={() => setChangingPassword(true)}
            >
              Change password
            </button>
            <button
              type="button"
              class="button small subtle"
              onClick={() => {
                setChangingPassword(false);
                logOut();
                navigate('/products', { replace: true });
              }}
            >
              Log out
            </button>
          </div>
        </header>
        <main id="main" class="main">
          {view(location)}
        </main>
        {changingPassword && session && (
          <ChangePassword onClose={() => setChangingPassword(false)} />
        )}
      </div>
      {interrupted && <LoginAgain who={interrupted.who} />}
    </>
  );
}
