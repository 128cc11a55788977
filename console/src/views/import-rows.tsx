import { useEffect, useRef, useState } from 'preact/hooks';
import { getImport, listImportRows, type ImportDto, type ImportRowDto } from '@sdk';
import { readInSession, retryable, unwrap } from '../api';
import { Link } from '../components/link';
import { Pager } from '../components/pager';
import { keepFocusInPage, Page } from '../components/page';
import {
  ReadError,
  ReadFailed,
  readFailure,
  useRetry,
  type ReadFailure,
} from '../components/read-failed';
import { formatDate } from '../format';
import { nextReadInMs } from '../poll-delay';
import { navigateFilter, type Location } from '../router';

type RowStatus = ImportRowDto['status'];
const STATUSES: { value: RowStatus; label: string }[] = [
  { value: 'failed', label: 'Failed rows' },
  { value: 'ok', label: 'Imported rows' },
  { value: 'pending', label: 'Pending rows' },
];
const isStatus = (value: string | null): value is RowStatus =>
  STATUSES.some((s) => s.value === value);

/** Rows a page shows. */
const ROWS_SHOWN = 50;
/** How often an import not yet completed is read again while the tab is shown. */
const POLL_MS = 2000;

/**
 * A bulk import's rows (/jobs/imports/:importId), a page at a time as the API pages them, with
 * each failed row's problem (its code and the service's words), its source URL and its product:
 * what the counts on the Jobs page do not say. Read again every two seconds while rows are
 * pending.
 */
export function ImportRows({ importId, location }: { importId: string; location: Location }) {
  const asked = location.query.get('status');
  const status = isStatus(asked) ? asked : undefined;
  const cursor = location.query.get('cursor') ?? undefined;
  const listed = `${status ?? ''}/${cursor ?? ''}`;
  const [found, setFound] = useState<ImportDto>();
  const [importError, setImportError] = useState<unknown>();
  const [rows, setRows] = useState<{ of: string; items: ImportRowDto[]; next: string | null }>();
  const [failed, setFailed] = useState<{ of: string } & ReadFailure>();
  const [attempt, retryRows] = useRetry(setFailed);
  const retry = () => {
    setImportError(undefined);
    retryRows();
  };
  const [tick, setTick] = useState(0);
  // Reads failed in a row (of the import, or its rows), for the next one's wait (nextReadInMs).
  const failures = useRef(0);
  const items = rows?.of === listed ? rows.items : undefined;
  const next = rows?.of === listed ? rows.next : undefined;
  const error = failed?.of === listed ? failed : undefined;

  useEffect(() => {
    let current = true;
    let timer: number | undefined;
    const path = { importId };
    // The import first, then its rows: rows read after the import said `completed` are its last
    // (read together, the last poll could stop on rows still shown pending).
    const settled = <T,>(read: () => Promise<T>) =>
      read().then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      );
    void (async () => {
      const read = await settled(() => readInSession(() => unwrap(getImport({ path }))));
      const page = await settled(() =>
        readInSession(() =>
          unwrap(listImportRows({ path, query: { status, cursor, limit: ROWS_SHOWN } })),
        ),
      );
      if (!current) return;
      if (read.status === 'fulfilled') {
        setFound(read.value);
        setImportError(undefined);
      } else setImportError(read.reason ?? new Error());
      if (page.status === 'fulfilled') {
        setRows({ of: listed, items: page.value.items, next: page.value.next_cursor });
        setFailed(undefined);
      } else {
        const caught: unknown = page.reason;
        setFailed({ of: listed, ...readFailure(caught) });
      }
      // Rows still being worked, or a read that failed for now (a 429, a 503, the network): read
      // again (a hidden tab waits until it is shown). One failed poll no longer ends the polling.
      const working = read.status === 'fulfilled' && read.value.state !== 'completed';
      // Failures that pass (a 429, a 503, the network) make the next read wait longer, as long
      // as either read's Retry-After says at least; one refused for good (a stale cursor's 400)
      // does not slow the import's progress.
      const passing = [read, page].flatMap((r) =>
        r.status === 'rejected' && retryable(r.reason) ? [r.reason] : [],
      );
      failures.current = passing.length > 0 ? failures.current + 1 : 0;
      if (working || (read.status === 'rejected' && retryable(read.reason))) {
        const wait = Math.max(
          nextReadInMs(POLL_MS, failures.current),
          ...passing.map((reason) => nextReadInMs(POLL_MS, failures.current, reason)),
        );
        timer = window.setTimeout(function again() {
          if (!current) return;
          if (document.hidden) timer = window.setTimeout(again, POLL_MS);
          else setTick((n) => n + 1);
        }, wait);
      }
    })();
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [importId, listed, attempt, tick]);

  useEffect(() => {
    if (items) keepFocusInPage();
  }, [items]);

  // An address that names no import (or one the person may not read) says so as a page.
  if (importError !== undefined && found === undefined) {
    return (
      <ReadFailed
        thing="Import"
        back={{ to: '/jobs', label: 'Go to the jobs' }}
        error={importError}
        retry={retry}
      />
    );
  }

  const query = (s: RowStatus | undefined) => (s ? `?status=${s}` : '');
  const here = `/jobs/imports/${importId}`;
  return (
    <Page
      title={found ? `Import of ${formatDate(found.created_at)}` : 'Import'}
      lead={<Link to="/jobs">Back to the jobs</Link>}
    >
      {found && (
        <p class="tile-meta import-summary">
          <span class={`tag tag-${found.state}`}>{found.state}</span> {found.format.toUpperCase()} ·{' '}
          {found.counts.total} rows: {found.counts.ok} imported, {found.counts.failed} failed,{' '}
          {found.counts.pending} pending
          {found.finished_at && ` · finished ${formatDate(found.finished_at)}`}
        </p>
      )}
      <div class="toolbar">
        <div class="field inline-field">
          <label for="row-status">Show</label>
          <select
            id="row-status"
            value={status ?? ''}
            onChange={(e) => {
              const value = e.currentTarget.value;
              navigateFilter(here + query(isStatus(value) ? value : undefined));
            }}
          >
            <option value="">Every row</option>
            {STATUSES.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {error && <ReadError failure={error} retry={retry} />}
      {!items && !error && <p class="loading">Loading the rows…</p>}
      {items?.length === 0 && (
        <p class="empty">
          {status
            ? `No ${STATUSES.find((s) => s.value === status)?.label.toLowerCase()}.`
            : 'No rows.'}
        </p>
      )}
      {items && items.length > 0 && <RowTable rows={items} csv={found?.format === 'csv'} />}
      {(items || error) && (
        <Pager
          label="Pages of rows"
          first={here + query(status)}
          cursor={cursor}
          next={
            next && `${here}?${status ? `status=${status}&` : ''}cursor=${encodeURIComponent(next)}`
          }
        />
      )}
    </Page>
  );
}

function RowTable({ rows, csv }: { rows: ImportRowDto[]; csv: boolean }) {
  return (
    <div class="table-scroll" tabIndex={0} role="region" aria-label="Rows of the import">
      <table class="import-rows">
        <thead>
          <tr>
            <th scope="col">Row</th>
            <th scope="col">Status</th>
            <th scope="col">Product</th>
            <th scope="col">Source URL</th>
            <th scope="col">Problem or image</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.row} data-row={row.row}>
              <td>
                {row.row}
                {csv && row.line !== null && <span class="tile-meta"> (line {row.line})</span>}
              </td>
              <td>
                <span class={`tag tag-${row.status}`}>{row.status}</span>
              </td>
              <td class="import-product">
                <ProductOf row={row} />
              </td>
              <td class="import-url">{row.url === null ? '—' : <bdi>{row.url}</bdi>}</td>
              <td class="import-outcome">
                <Outcome row={row} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** How the row named its product: its id (a link to the gallery), GTIN or external id. */
function ProductOf({ row }: { row: ImportRowDto }) {
  const keys = [
    row.gtin !== null && `GTIN ${row.gtin}`,
    row.external_id !== null && `External id ${row.external_id}`,
  ].filter((key): key is string => key !== false);
  if (row.product_id === null && keys.length === 0) return <>—</>;
  return (
    <>
      {row.product_id !== null && (
        <Link to={`/products/${row.product_id}`}>
          <code>{row.product_id}</code>
        </Link>
      )}
      {keys.map((key) => (
        <div key={key}>
          <bdi>{key}</bdi>
        </div>
      ))}
    </>
  );
}

function Outcome({ row }: { row: ImportRowDto }) {
  if (row.problem) {
    return (
      <>
        <code class="problem-code">{row.problem.code}</code> <bdi>{row.problem.message}</bdi>
      </>
    );
  }
  if (row.image_id !== null && row.product_id !== null) {
    return <Link to={`/products/${row.product_id}/images/${row.image_id}`}>The image</Link>;
  }
  return <>—</>;
}
