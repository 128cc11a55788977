import { useLayoutEffect, useRef } from 'preact/hooks';
import type { CreatedApiKeyDto } from '@sdk';
import type { LostKey } from '../api-key-creation';
import { CopyField } from '../components/copy-field';
import { Link } from '../components/link';

/**
 * A new key's secret, which the service shows in its answer to the creation only: the focus goes
 * to it (selected, to copy), and it is gone once the person says they are done or leaves.
 */
export function NewSecret({ created, onDone }: { created: CreatedApiKeyDto; onDone: () => void }) {
  const box = useRef<HTMLElement>(null);
  // At once, in the task that shows it (an effect runs a frame later: a Ctrl+C or Tab pressed
  // meanwhile would go from elsewhere, and the focus then be pulled away from where it went).
  useLayoutEffect(() => {
    box.current?.querySelector('input')?.focus();
  }, [created]);
  return (
    <section class="panel new-secret" aria-labelledby="new-secret-title" ref={box}>
      <h2 id="new-secret-title">
        The key of “<bdi>{created.name}</bdi>”
      </h2>
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
export function LostSecret({
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
        The key of “<bdi>{lost.name}</bdi>” cannot be shown
      </h2>
      <p class="hint conflict">
        “<bdi>{lost.name}</bdi>” was created once, but its key was only in the answer that was lost,
        and the service keeps only a hash of it.{' '}
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
