import type { ApiKeyDto } from '@sdk';
import { formatDate } from '../format';

export function ApiKeyTable({
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
                <bdi>{key.name}</bdi>
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
