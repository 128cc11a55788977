import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import {
  createApiKey,
  listApiKeys,
  revokeApiKey,
  type ApiKeyDto,
  type CreateApiKeyDto,
  type CreateApiKeyErrors,
  type CreatedApiKeyDto,
} from '@sdk';
import {
  CallFailed,
  doneAnswerLost,
  messageOf,
  newIdempotencyKey,
  retryable,
  unwrap,
} from '../api';
import { Confirm } from '../components/confirm';
import { CopyField } from '../components/copy-field';
import { Link } from '../components/link';
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
 * A key made whose secret never reached the person: the creation's answer was lost, and its
 * retry under the same Idempotency-Key was told the key's id (`api_key_id`), never its secret;
 * no id when the service lost its own answer (409 idempotent_answer_lost).
 */
interface LostKey {
  id?: string;
  name: string;
}

/** The key a revocation is confirmed for: from the list, or a lost key (no prefix known). */
type Revoking = Pick<ApiKeyDto, 'id' | 'name'> & { prefix?: string };

const pageAt = (n: number) => (n === 1 ? '/api-keys' : `/api-keys?page=${n}`);

const lostNotice = (name: string) =>
  `The key “${name}” was created, but the answer that held its key was lost on the way: ` +
  'its key cannot be shown again.';

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
  const [lost, setLost] = useState<LostKey>();
  const [revoking, setRevoking] = useState<Revoking>();
  // The list's last page, where new keys are (it is read oldest first).
  const newestPage = listed ? Math.max(1, Math.ceil(listed.total / PER_PAGE)) : page;
  // The new key's panel gone ("Done"), its button with it: the focus goes to the view's heading.
  useEffect(() => {
    if (!created && !lost) keepFocusInPage();
  }, [created, lost]);

  const revoke = async (key: Revoking) => {
    setRevoking(undefined);
    try {
      await unwrap(revokeApiKey({ path: { id: key.id } }));
      setNotice({ kind: 'success', text: `Revoked “${key.name}”: it works no more.` });
      if (key.id === lost?.id) setLost(undefined);
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
            setLost(undefined);
            setCreated(key);
            setNotice({
              kind: 'success',
              text: `Created “${key.name}”. Copy its key now: you will not see it again.`,
            });
            reload();
          }}
          onLost={(key) => {
            setCreated(undefined);
            setLost(key);
            setNotice({ kind: 'error', text: lostNotice(key.name) });
            reload();
          }}
          onUnsure={reload}
        />
      </div>
      <Notice notice={notice} />
      {created && <NewSecret created={created} onDone={() => setCreated(undefined)} />}
      {lost && (
        <LostSecret
          lost={lost}
          inList={listed?.items.some((key) => key.id === lost.id) ?? false}
          newest={newestPage !== page ? pageAt(newestPage) : undefined}
          onRevoke={(id) =>
            setRevoking(listed?.items.find((key) => key.id === id) ?? { id, name: lost.name })
          }
          onDone={() => setLost(undefined)}
        />
      )}
      {error && <ReadError message={error.message} retry={error.retry ? retry : undefined} />}
      {!listed && !error && <p class="loading">Loading API keys…</p>}
      {listed && <ApiKeyTable keys={listed.items} lostId={lost?.id} onRevoke={setRevoking} />}
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
            “{revoking.name}”{revoking.prefix && ` (pis_${revoking.prefix}_…)`} stops working at
            once, and so do the keys it created. This cannot be undone.
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
  // At once, in the task that shows it (an effect runs a frame later: a Ctrl+C or Tab pressed
  // meanwhile would go from elsewhere, and the focus then be pulled away from where it went).
  useLayoutEffect(() => {
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

/**
 * A key made whose secret was lost with the creation's answer: no one can be shown it, so the
 * person is offered to revoke it (it is marked in the list) and create another. The focus goes
 * to the panel's heading, which says so.
 */
function LostSecret({
  lost,
  inList,
  newest,
  onRevoke,
  onDone,
}: {
  lost: LostKey;
  /** Whether the key's row is on the page shown (and marked). */
  inList: boolean;
  /** The page of the newest keys, where it is, when another page is shown. */
  newest: string | undefined;
  onRevoke: (id: string) => void;
  onDone: () => void;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  // At once, as NewSecret's field.
  useLayoutEffect(() => {
    heading.current?.focus();
  }, [lost]);
  const { id } = lost;
  return (
    <section class="panel new-secret" aria-labelledby="lost-secret-title">
      <h2 id="lost-secret-title" tabIndex={-1} ref={heading}>
        The key of “{lost.name}” cannot be shown
      </h2>
      <p class="hint conflict">
        “{lost.name}” was created once, but its key was only in the answer that was lost, and the
        service keeps only a hash of it.{' '}
        {id && inList && 'It is marked “Key not shown” in the list below. '}
        {!id && 'Find it in the list (new keys are at its end). '}
        Revoke it, then create another.
        {!inList && newest && (
          <>
            {' '}
            <Link to={newest}>{id ? 'Show it in the list' : 'Show the newest keys'}</Link>
          </>
        )}
      </p>
      <div class="actions">
        {id && (
          <button type="button" class="button danger" onClick={() => onRevoke(id)}>
            Revoke it
          </button>
        )}
        <button type="button" class="button" onClick={onDone}>
          {id ? 'Not now' : 'Done'}
        </button>
      </div>
    </section>
  );
}

function ApiKeyTable({
  keys,
  lostId,
  onRevoke,
}: {
  keys: ApiKeyDto[];
  /** The key whose secret was lost with its creation's answer, marked in its row. */
  lostId: string | undefined;
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
              <td>
                {key.name}
                {key.id === lostId && (
                  <>
                    {' '}
                    <span class="tag">Key not shown</span>
                  </>
                )}
              </td>
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
 * may have been made all the same, its secret lost with the answer, which the API keeps nowhere.
 * Sent again under the same Idempotency-Key, the request makes no second key: it makes the key if
 * the first did not, or is told the key made (409 api_key_already_created), never its secret.
 */
const mayBeMade = (error: unknown): error is CallFailed =>
  error instanceof CallFailed && (error.status === 0 || error.status >= 500);

/** The first request with the key still being worked on: its answer comes after Retry-After. */
const stillInUse = (error: unknown): boolean =>
  error instanceof CallFailed && error.status === 409 && error.code === 'idempotency_key_in_use';

/** Sends to a key in use: how many times at most, and the pause before each resending. */
const MAX_SENDS = 5;
const RESEND_PAUSE_MS = 1_000;

/**
 * Creates the key under `key`, sent once more after no answer or a 5xx, and again (a few times)
 * while the first request with the key is still being worked on.
 */
async function sendCreation(body: CreateApiKeyDto, key: string): Promise<CreatedApiKeyDto> {
  let resent = false;
  for (let sent = 1; ; sent++) {
    try {
      return await unwrap(createApiKey({ body, headers: { 'Idempotency-Key': key } }));
    } catch (caught) {
      const again = stillInUse(caught) ? sent < MAX_SENDS : mayBeMade(caught) && !resent;
      if (!again) throw caught;
      resent ||= mayBeMade(caught);
    }
    await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS));
  }
}

/** What a failed creation means for the person: a key made and its secret lost, or a message. */
type Failure = { lost: LostKey } | { message: string; unsure: boolean };

function failureOf(caught: unknown, name: string): Failure {
  if (caught instanceof CallFailed && caught.code === 'api_key_already_created') {
    const made = caught.problem as CreateApiKeyErrors[409] | undefined;
    return { lost: { id: made?.api_key_id, name } };
  }
  if (doneAnswerLost(caught)) return { lost: { name } };
  if (mayBeMade(caught)) {
    const what =
      caught.status === 0
        ? 'No answer came from the service'
        : `The service failed (${caught.status})`;
    return {
      message:
        `${what}, even on a retry: the key “${name}” may have been created. Press Create key ` +
        'again to find out: with the same fields, it is never made twice.',
      unsure: true,
    };
  }
  if (stillInUse(caught)) {
    return {
      message:
        `The service is still creating “${name}”. Press Create key again in a moment to see ` +
        'how it ended: with the same fields, it is never made twice.',
      unsure: true,
    };
  }
  if (caught instanceof CallFailed && caught.code === 'idempotency_key_reused') {
    // The key went with other fields before: this request was refused, nothing was made of it.
    return {
      message:
        'Not created: the service took this for a retry of another creation. Press ' +
        'Create key again to send it as a new one.',
      unsure: false,
    };
  }
  return { message: messageOf(caught), unsure: false };
}

/** Creating a key: its name, role, scopes (the role's, or fewer) and optional expiry. */
function NewApiKey({
  onCreated,
  onLost,
  onUnsure,
}: {
  onCreated: (key: CreatedApiKeyDto) => void;
  onLost: (key: LostKey) => void;
  onUnsure: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('staff');
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [expires, setExpires] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  /**
   * The creation the person started, while it may be sent again: its Idempotency-Key and body.
   * Pressed again with the same fields after no answer (or a failure on the service's side), the
   * same key makes no second key; other fields, or a key made, and the next creation is new.
   */
  const attempt = useRef<{ key: string; body: string } | undefined>(undefined);
  /** A creation on its way: a second press (a double click) before the button is disabled. */
  const sending = useRef(false);

  const done = () => {
    attempt.current = undefined;
    setOpen(false);
    setName('');
    setScopes([]);
    setExpires('');
  };

  const submit = async () => {
    if (sending.current) return;
    sending.current = true;
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
    const same = attempt.current?.body === JSON.stringify(body);
    const key = same && attempt.current ? attempt.current.key : newIdempotencyKey();
    attempt.current = { key, body: JSON.stringify(body) };
    try {
      const created = await sendCreation(body, key);
      done();
      onCreated(created);
    } catch (caught) {
      // A refusal of the fields is the service's answer to them: the next press is a new request.
      if (!retryable(caught)) attempt.current = undefined;
      const failure = failureOf(caught, body.name);
      if ('lost' in failure) {
        done();
        onLost(failure.lost);
      } else {
        setError(failure.message);
        // Read again: the key may be there already.
        if (failure.unsure) onUnsure();
      }
    } finally {
      sending.current = false;
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
