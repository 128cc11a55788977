import { useState } from 'preact/hooks';
import {
  createUser,
  deleteUser,
  listUsers,
  updateUser,
  type CreateUserDto,
  type UserDto,
} from '@sdk';
import { messageOf, unwrap } from '../api';
import { Confirm } from '../components/confirm';
import { NewItemPanel } from '../components/new-item-panel';
import { Notice, type NoticeValue } from '../components/notice';
import { Page } from '../components/page';
import { NumberedPager } from '../components/pager';
import { ReadError } from '../components/read-failed';
import { formatDate, quoted } from '../format';
import { usePagedListing } from '../paged-listing';
import { pageAsked, type Location } from '../router';
import type { Role } from '../session';

const PER_PAGE = 20;
/** The roles a user may have, the least first (the form's default). */
const ROLES: Role[] = ['user', 'staff', 'admin'];

/** A change asked of a user, awaiting the person's confirmation. */
type Asked = { user: UserDto; change: 'disable' | 'delete' };

/** The organisation's users: who may log in, with which role; disabled, changed or deleted here. */
export function Users({ location }: { location: Location }) {
  const page = pageAsked(location);
  const { listed, error, retry, reload } = usePagedListing(page, (number) =>
    listUsers({ query: { page: number, per_page: PER_PAGE } }),
  );
  const [notice, setNotice] = useState<NoticeValue>();
  const [asked, setAsked] = useState<Asked>();

  /** A change of a user; its outcome said in the live region (a refusal in the service's words). */
  const change = async (done: string, call: () => Promise<unknown>) => {
    setAsked(undefined);
    try {
      await call();
      setNotice({ kind: 'success', text: done });
      reload();
    } catch (caught) {
      setNotice({ kind: 'error', text: messageOf(caught) });
    }
  };
  const update = (user: UserDto, body: { role?: Role; disabled?: boolean }, done: string) =>
    change(done, () => unwrap(updateUser({ path: { id: user.id }, body })));

  return (
    <Page title="Users" lead="Who may log in to your organisation, and with which role.">
      <div class="toolbar">
        <NewUser
          onCreated={(user) => {
            setNotice({ kind: 'success', text: `Created the user ${quoted(user.username)}.` });
            reload();
          }}
        />
      </div>
      <Notice notice={notice} />
      {error && <ReadError failure={error} retry={retry} />}
      {!listed && !error && <p class="loading">Loading users…</p>}
      {listed && (
        <UserTable
          users={listed.items}
          onRole={(user, role) =>
            void update(user, { role }, `The role of ${quoted(user.username)} is now ${role}.`)
          }
          onEnable={(user) =>
            void update(user, { disabled: false }, `Enabled ${quoted(user.username)}.`)
          }
          onAsk={setAsked}
        />
      )}
      {(listed || error) && (
        <NumberedPager label="Pages of users" first="/users" page={page} listed={listed} />
      )}
      {asked?.change === 'disable' && (
        <Confirm
          title="Disable this user?"
          confirmLabel="Disable user"
          onCancel={() => setAsked(undefined)}
          onConfirm={() =>
            void update(asked.user, { disabled: true }, `Disabled ${quoted(asked.user.username)}.`)
          }
        >
          <p>
            “<bdi>{asked.user.username}</bdi>” can no longer log in, and their sessions stop working
            at once. They can be enabled again.
          </p>
        </Confirm>
      )}
      {asked?.change === 'delete' && (
        <Confirm
          title="Delete this user?"
          confirmLabel="Delete user"
          onCancel={() => setAsked(undefined)}
          onConfirm={() =>
            void change(`Deleted ${quoted(asked.user.username)}.`, () =>
              unwrap(deleteUser({ path: { id: asked.user.id } })),
            )
          }
        >
          <p>
            “<bdi>{asked.user.username}</bdi>” will be deleted. The images they uploaded and the API
            keys they made stay. This cannot be undone.
          </p>
        </Confirm>
      )}
    </Page>
  );
}

interface TableProps {
  users: UserDto[];
  onRole: (user: UserDto, role: Role) => void;
  onEnable: (user: UserDto) => void;
  onAsk: (asked: Asked) => void;
}

function UserTable({ users, onRole, onEnable, onAsk }: TableProps) {
  if (users.length === 0) return <p class="empty">No users yet: create one.</p>;
  return (
    <div class="table-scroll" tabIndex={0} role="region" aria-label="Users">
      <table>
        <thead>
          <tr>
            <th scope="col">Username</th>
            <th scope="col">Email</th>
            <th scope="col">Full name</th>
            <th scope="col">Role</th>
            <th scope="col">Created</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.id} data-user={user.username}>
              <td>{user.username}</td>
              <td>{user.email}</td>
              <td>{user.full_name || '—'}</td>
              <td>
                <RoleCell key={`${user.id}/${user.role}`} user={user} onRole={onRole} />
              </td>
              <td>{formatDate(user.created_at)}</td>
              <td>
                <span class="actions">
                  {user.disabled ? (
                    <>
                      <span class="tag tag-failed">Disabled</span>
                      <button
                        type="button"
                        class="button small"
                        aria-label={`Enable ${user.username}`}
                        onClick={() => onEnable(user)}
                      >
                        Enable
                      </button>
                    </>
                  ) : (
                    <button
                      type="button"
                      class="button small"
                      aria-label={`Disable ${user.username}`}
                      onClick={() => onAsk({ user, change: 'disable' })}
                    >
                      Disable
                    </button>
                  )}
                  <button
                    type="button"
                    class="button small danger-text"
                    aria-label={`Delete ${user.username}`}
                    onClick={() => onAsk({ user, change: 'delete' })}
                  >
                    Delete
                  </button>
                </span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A user's role, changed by choosing another and saving it (a choice alone changes nothing). */
function RoleCell({ user, onRole }: { user: UserDto; onRole: TableProps['onRole'] }) {
  const [role, setRole] = useState<Role>(user.role);
  const id = `role-of-${user.id}`;
  return (
    <span class="actions">
      <label for={id} class="visually-hidden">
        Role of {user.username}
      </label>
      <select id={id} value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      {role !== user.role && (
        <button
          type="button"
          class="button small"
          aria-label={`Save the role of ${user.username}`}
          onClick={() => onRole(user, role)}
        >
          Save
        </button>
      )}
    </span>
  );
}

const PASSWORD_SYMBOLS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * 20 letters and digits drawn with crypto.getRandomValues (about 119 bits): a byte of 248 or
 * more is drawn again, so that each of the 62 symbols is as likely.
 */
function generatedPassword(length = 20): string {
  let password = '';
  while (password.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 248 && password.length < length) password += PASSWORD_SYMBOLS[byte % 62];
    }
  }
  return password;
}

/** Creating a user: their email, username, role, optional full name, and first password. */
function NewUser({ onCreated }: { onCreated: (user: UserDto) => void }) {
  const [open, setOpen] = useState(false);
  const empty = { email: '', username: '', full_name: '', password: '', role: 'user' as Role };
  const [fields, setFields] = useState<CreateUserDto & { full_name: string }>(empty);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  /** The password shown rather than masked: one generated, for the admin to copy. */
  const [shown, setShown] = useState(false);
  const set = (name: keyof typeof fields) => (e: { currentTarget: { value: string } }) =>
    setFields((f) => ({ ...f, [name]: e.currentTarget.value }));

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    const { full_name, ...rest } = fields;
    const body: CreateUserDto = { ...rest, ...(full_name.trim() ? { full_name } : {}) };
    try {
      const user = await unwrap(createUser({ body }));
      setOpen(false);
      setFields(empty);
      setShown(false);
      onCreated(user);
    } catch (caught) {
      setError(messageOf(caught));
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
      id="new-user"
      title="New user"
      submitLabel="Create user"
      busy={busy}
      error={error}
    >
      <div class="field">
        <label for="new-user-email">Email</label>
        <input
          id="new-user-email"
          type="email"
          required
          autocomplete="off"
          value={fields.email}
          onInput={set('email')}
        />
      </div>
      <div class="field">
        <label for="new-user-username">Username</label>
        <input
          id="new-user-username"
          required
          autocomplete="off"
          value={fields.username}
          aria-describedby="new-user-username-hint"
          onInput={set('username')}
        />
        <p class="hint" id="new-user-username-hint">
          3 to 150 letters, digits, “.”, “_” or “-”.
        </p>
      </div>
      <div class="field">
        <label for="new-user-full-name">Full name (optional)</label>
        <input id="new-user-full-name" value={fields.full_name} onInput={set('full_name')} />
      </div>
      <div class="field">
        <label for="new-user-role">Role</label>
        <select id="new-user-role" value={fields.role} onChange={set('role')}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="new-user-password">Password</label>
        <div class="copy-row">
          <input
            id="new-user-password"
            {...(shown ? { type: 'text' as const } : { type: 'password' as const })}
            required
            autocomplete="new-password"
            value={fields.password}
            aria-describedby="new-user-password-hint"
            onInput={set('password')}
          />
          <button
            type="button"
            class="button small"
            onClick={() => {
              setFields((f) => ({ ...f, password: generatedPassword() }));
              setShown(true);
            }}
          >
            Generate a password
          </button>
        </div>
        <p class="hint" id="new-user-password-hint">
          At least 12 characters: tell it to them yourself; they log in with it.
          {shown && ' Shown so that you can copy it.'}
        </p>
      </div>
    </NewItemPanel>
  );
}
