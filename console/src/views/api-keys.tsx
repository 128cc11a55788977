import { useEffect, useState } from 'preact/hooks';
import { listApiKeys, revokeApiKey, type ApiKeyDto, type CreatedApiKeyDto } from '@sdk';
import { messageOf, unwrap } from '../api';
import type { LostKey } from '../api-key-creation';
import { Confirm } from '../components/confirm';
import { Notice, type NoticeValue } from '../components/notice';
import { keepFocusInPage, Page } from '../components/page';
import { NumberedPager } from '../components/pager';
import { ReadError } from '../components/read-failed';
import { usePagedListing } from '../paged-listing';
import { pageAsked, type Location } from '../router';
import { ApiKeyTable } from './api-key-table';
import { LostSecret, NewSecret } from './api-key-secret';
import { NewApiKey } from './new-api-key';
import { quoted } from '../format';

const PER_PAGE = 20;

/** The key a revocation is confirmed for: from the list, or a lost key (no prefix known). */
type Revoking = Pick<ApiKeyDto, 'id' | 'name'> & { prefix?: string };

const pageAt = (n: number) => (n === 1 ? '/api-keys' : `/api-keys?page=${n}`);

const lostNotice = (name: string) =>
  `The key ${quoted(name)} was created, but the answer that held its key was lost on the way: ` +
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
      setNotice({ kind: 'success', text: `Revoked ${quoted(key.name)}: it works no more.` });
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
              text: `Created ${quoted(key.name)}. Copy its key now: you will not see it again.`,
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
      {error && <ReadError failure={error} retry={retry} />}
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
            “<bdi>{revoking.name}</bdi>”{revoking.prefix && ` (pis_${revoking.prefix}_…)`} stops
            working at once, and so do the keys it created. This cannot be undone.
          </p>
        </Confirm>
      )}
    </Page>
  );
}
