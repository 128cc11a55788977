import { useApiKeyCreation, type CreationOutcomes } from '../api-key-creation';
import { NewItemPanel } from '../components/new-item-panel';
import { ROLE_SCOPES as SERVICE_ROLE_SCOPES } from '../../../src/auth/roles';
import type { Role, Scope } from '../session';

/** The roles a key may act as, the default (staff) first. */
const ROLES: Role[] = ['staff', 'user', 'admin'];

/** The scopes each role implies: the service's own table, a key holding at most its role's. */
const ROLE_SCOPES: Record<Role, readonly Scope[]> = SERVICE_ROLE_SCOPES;

/** Creating a key: its name, role, scopes (the role's, or fewer) and optional expiry. */
export function NewApiKey(outcomes: CreationOutcomes) {
  const { open, setOpen, fields, change, changeScopes, error, busy, submit } =
    useApiKeyCreation(outcomes);
  const { name, role, scopes, expires } = fields;
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
          onInput={(e) => change({ name: e.currentTarget.value })}
        />
      </div>
      <RoleAndScopes
        role={role}
        scopes={scopes}
        onRole={(next) => change({ role: next })}
        onScopes={changeScopes}
      />
      <div class="field">
        <label for="new-api-key-expires">Expires on (optional)</label>
        <input
          id="new-api-key-expires"
          type="date"
          value={expires}
          aria-describedby="new-api-key-expires-hint"
          onInput={(e) => change({ expires: e.currentTarget.value })}
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
