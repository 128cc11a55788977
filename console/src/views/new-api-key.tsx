import { useRef, useState } from 'preact/hooks';
import type { CreateApiKeyDto, CreatedApiKeyDto } from '@sdk';
import { newIdempotencyKey, retryable } from '../api';
import { failureOf, sendCreation, type LostKey } from '../api-key-creation';
import { NewItemPanel } from '../components/new-item-panel';
import { ROLE_SCOPES as SERVICE_ROLE_SCOPES } from '../../../src/auth/roles';
import type { Role, Scope } from '../session';

/** The roles a key may act as, the default (staff) first. */
const ROLES: Role[] = ['staff', 'user', 'admin'];

/** The scopes each role implies: the service's own table, a key holding at most its role's. */
const ROLE_SCOPES: Record<Role, readonly Scope[]> = SERVICE_ROLE_SCOPES;

/** Creating a key: its name, role, scopes (the role's, or fewer) and optional expiry. */
export function NewApiKey({
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
      <RoleAndScopes role={role} scopes={scopes} onRole={setRole} onScopes={setScopes} />
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

/**
 * The key's role, and the scopes ticked among the role's (none: all of them). Another role keeps
 * only the ticked scopes it has.
 */
function RoleAndScopes({
  role,
  scopes,
  onRole,
  onScopes,
}: {
  role: Role;
  scopes: Scope[];
  onRole: (role: Role) => void;
  onScopes: (change: (ticked: Scope[]) => Scope[]) => void;
}) {
  return (
    <>
      <div class="field">
        <label for="new-api-key-role">Role</label>
        <select
          id="new-api-key-role"
          value={role}
          onChange={(e) => {
            const next = e.currentTarget.value as Role;
            onRole(next);
            onScopes((ticked) => ticked.filter((s) => ROLE_SCOPES[next].includes(s)));
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
                onScopes((ticked) => (on ? [...ticked, scope] : ticked.filter((s) => s !== scope)));
              }}
            />{' '}
            {scope}
          </label>
        ))}
      </fieldset>
    </>
  );
}
