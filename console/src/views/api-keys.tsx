import { useEffect, useRef, useState } from 'preact/hooks';
import {
  createApiKey,
  listApiKeys,
  revokeApiKey,
  type ApiKeyDto,
  type CreateApiKeyDto,
  type CreatedApiKeyDto,
} from '@sdk';
import { CallFailed, messageOf, unwrap } from '../api';
import { Confirm } from '../components/confirm';
import { CopyField } from '../components/copy-field';
import { NewItemPanel } from '../components/new-item-panel';
import { Notice, type NoticeValue } from '../components/notice';
import { keepFocusInPage, Page } from '../components/page';
import { NumberedPager } from '../components/pager';
import { ReadError } from '../components/read-failed';
import { formatDate } from '../format';
import { usePagedListing } from '../paged-listing';
import { pageAsked, type Location } from '../router';
import type { Role, Scope } from '../session';

const PER_PAGE = 20;

/** The roles a key may act as, the default (staff) first. */
const ROLES: Role[] = ['staff', 'user', 'admin'];

/** The scopes each role implies, as src/auth/roles.ts says: a key holds at most its role's. */
const ROLE_SCOPES: Record<Role, Scope[]> = {
  user: ['products:read', 'images:read'],
  staff: ['products:read', 'images:read', 'products:write', 'images:write'],
  admin: [
    'products:read',
    'images:read',
    'products:write',
    'images:write',
    'api_keys:manage',
    'users:manage',
  ],
};

/**
 * The organisation's API keys: their names, roles and scopes, never their secrets; a new key's
 * secret is shown once, in this view's state only (not in storage, nor in the address).
 */
export function ApiKeys({ location }: { location: Location }) {
  const page = pageAsked(location);
  const { listed, error, retry, reload } = usePagedListing(page, (number) =>
    listApiKeys({ query: { page: number, per_page: PER_PAGE } }),
  );
  const [notice, setNotice] = useState<NoticeValue>();
  const [created, setCreated] = useState<CreatedApiKeyDto>();
  const [revoking, setRevoking] = useState<ApiKeyDto>();
  // The new key's panel gone ("Done"), its button with it: the focus goes to the view's heading.
  useEffect(() => {
    if (!created) keepFocusInPage();
  }, [created]);

  const revoke = async (key: ApiKeyDto) => {
    setRevoking(undefined);
    try {
      await unwrap(revokeApiKey({ path: { id: key.id } }));
      setNotice({ kind: 'success', text: `Revoked “${key.name}”: it works no more.` });
      reload();
    } catch (caught) {
      setNotice({ kind: 'error', text: messageOf(caught) });
    }
  };

  return (
    <Page
      title="API keys"
      lead="Keys for integrations: each acts with its role and scopes, until it expires or is revoked."
    >
      <div class="toolbar">
        <NewApiKey
          onCreated={(key) => {
            setCreated(key);
            setNotice({
              kind: 'success',
              text: `Created “${key.name}”. Copy its key now: you will not see it again.`,
            });
            reload();
          }}
          onUnsure={reload}
        />
      </div>
      <Notice notice={notice} />
      {created && <NewSecret created={created} onDone={() => setCreated(undefined)} />}
      {error && <ReadError message={error.message} retry={error.retry ? retry : undefined} />}
      {!listed && !error && <p class="loading">Loading API keys…</p>}
      {listed && <ApiKeyTable keys={listed.items} onRevoke={setRevoking} />}
      {(listed || error) && (
        <NumberedPager label="Pages of API keys" first="/api-keys" page={page} listed={listed} />
      )}
      {revoking && (
        <Confirm
          title="Revoke this API key?"
          confirmLabel="Revoke key"
          onCancel={() => setRevoking(undefined)}
          onConfirm={() => void revoke(revoking)}
        >
          <p>
            “{revoking.name}” (pis_{revoking.prefix}_…) stops working at once, and so do the keys it
            created. This cannot be undone.
          </p>
        </Confirm>
      )}
    </Page>
  );
}

/**
 * A new key's secret, which the service shows in its answer to the creation only: the focus goes
 * to it (selected, to copy), and it is gone once the person says they are done or leaves.
 */
function NewSecret({ created, onDone }: { created: CreatedApiKeyDto; onDone: () => void }) {
  const box = useRef<HTMLElement>(null);
  useEffect(() => {
    box.current?.querySelector('input')?.focus();
  }, [created]);
  return (
    <section class="panel new-secret" aria-labelledby="new-secret-title" ref={box}>
      <h2 id="new-secret-title">The key of “{created.name}”</h2>
      <p class="hint conflict">
        Copy it now and keep it safe: you will not see it again. The service keeps only a hash of
        it; if it is lost, revoke the key and create another.
      </p>
      <CopyField label="New API key" value={created.key} />
      <div class="actions">
        <button type="button" class="button" onClick={onDone}>
          Done, I have copied it
        </button>
      </div>
    </section>
  );
}

function ApiKeyTable({
  keys,
  onRevoke,
}: {
  keys: ApiKeyDto[];
  onRevoke: (key: ApiKeyDto) => void;
}) {
  if (keys.length === 0) return <p class="empty">No API keys yet: create one.</p>;
  return (
    <div class="table-scroll" tabIndex={0} role="region" aria-label="API keys">
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Prefix</th>
            <th scope="col">Role</th>
            <th scope="col">Scopes</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => (
            <tr key={key.id} data-api-key={key.id}>
              <td>{key.name}</td>
              <td>
                <code>pis_{key.prefix}_…</code>
              </td>
              <td>{key.role}</td>
              <td>{key.scopes.join(', ')}</td>
              <td>
                {formatDate(key.created_at)}
                {key.created_by_username && ` by ${key.created_by_username}`}
              </td>
              <td>{key.last_used_at ? formatDate(key.last_used_at) : 'Never'}</td>
              <td>{key.expires_at ? formatDate(key.expires_at) : 'Never'}</td>
              <td>
                <KeyState apiKey={key} onRevoke={onRevoke} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function KeyState({ apiKey, onRevoke }: { apiKey: ApiKeyDto; onRevoke: (k: ApiKeyDto) => void }) {
  if (apiKey.revoked_at) {
    return <span class="tag tag-failed">Revoked {formatDate(apiKey.revoked_at)}</span>;
  }
  const expired = apiKey.expires_at !== null && Date.parse(apiKey.expires_at) <= Date.now();
  return (
    <span class="actions">
      {expired && <span class="tag">Expired</span>}
      <button
        type="button"
        class="button small danger-text"
        aria-label={`Revoke ${apiKey.name}`}
        onClick={() => onRevoke(apiKey)}
      >
        Revoke
      </button>
    </span>
  );
}

/**
 * A creation with no answer (the connection dropped) or a failure on the service's side: the key
 * may have been made all the same, its secret lost with the answer, which the API keeps nowhere
 * (a retry with the same Idempotency-Key is told the key's id, never its secret). Pressing Create
 * again, a new request, would make a second key: the person is told to look first.
 */
const mayBeMade = (error: unknown): error is CallFailed =>
  error instanceof CallFailed && (error.status === 0 || error.status >= 500);

const madeMaybe = (name: string, error: CallFailed) =>
  `${error.status === 0 ? 'No answer came from the service' : `The service failed (${error.status})`}: ` +
  `the key “${name}” may have been created, and its key ` +
  'cannot be shown again. Look for it in the list (new keys are at its end) before creating ' +
  'it again: if it is there, revoke it, then create another.';

/** Creating a key: its name, role, scopes (the role's, or fewer) and optional expiry. */
function NewApiKey({
  onCreated,
  onUnsure,
}: {
  onCreated: (key: CreatedApiKeyDto) => void;
  onUnsure: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('staff');
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [expires, setExpires] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    const body: CreateApiKeyDto = {
      name: name.trim(),
      role,
      // None ticked: the role's own, the service's default.
      ...(scopes.length > 0 ? { scopes } : {}),
      // A date alone: the key stops working at its first moment, UTC.
      ...(expires ? { expires_at: expires } : {}),
    };
    try {
      const key = await unwrap(createApiKey({ body }));
      setOpen(false);
      setName('');
      setScopes([]);
      setExpires('');
      onCreated(key);
    } catch (caught) {
      if (mayBeMade(caught)) {
        setError(madeMaybe(body.name, caught));
        // Read again: the key may be there already.
        onUnsure();
      } else {
        setError(messageOf(caught));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <NewItemPanel
      open={open}
      onOpen={() => setOpen(true)}
      onCancel={() => setOpen(false)}
      onSubmit={() => void submit()}
      id="new-api-key"
      title="New API key"
      submitLabel="Create key"
      busy={busy}
      error={error}
    >
      <div class="field">
        <label for="new-api-key-name">Name</label>
        <input
          id="new-api-key-name"
          required
          value={name}
          placeholder="PIM import job"
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="new-api-key-role">Role</label>
        <select
          id="new-api-key-role"
          value={role}
          onChange={(e) => {
            const next = e.currentTarget.value as Role;
            setRole(next);
            setScopes((ticked) => ticked.filter((s) => ROLE_SCOPES[next].includes(s)));
          }}
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <fieldset class="field">
        <legend>Scopes (optional)</legend>
        <p class="hint" id="new-api-key-scopes-hint">
          None ticked: every scope of the role.
        </p>
        {ROLE_SCOPES[role].map((scope) => (
          <label key={scope} class="check">
            <input
              type="checkbox"
              checked={scopes.includes(scope)}
              aria-describedby="new-api-key-scopes-hint"
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setScopes((ticked) =>
                  on ? [...ticked, scope] : ticked.filter((s) => s !== scope),
                );
              }}
            />{' '}
            {scope}
          </label>
        ))}
      </fieldset>
      <div class="field">
        <label for="new-api-key-expires">Expires on (optional)</label>
        <input
          id="new-api-key-expires"
          type="date"
          value={expires}
          aria-describedby="new-api-key-expires-hint"
          onInput={(e) => setExpires(e.currentTarget.value)}
        />
        <p class="hint" id="new-api-key-expires-hint">
          The key stops working at the start of that day (UTC). Empty: it never expires.
        </p>
      </div>
    </NewItemPanel>
  );
}
