import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  listImports,
  listJobs,
  listRenditionRebuilds,
  startRenditionRebuild,
  type ImportDto,
  type JobDto,
  type RenditionRebuildDto,
} from '@sdk';
import { messageOf, unwrap } from '../api';
import { Link } from '../components/link';
import { Notice, type NoticeValue } from '../components/notice';
import { ReadError, readFailure, type ReadFailure } from '../components/read-failed';
import { Page } from '../components/page';
import { formatDate } from '../format';
import { nextReadInMs } from '../poll-delay';

/** How often the view asks again while it is open. */
const POLL_MS = 2000;
/** The newest imports shown. */
const IMPORTS_SHOWN = 10;

interface Snapshot {
  rebuilds: RenditionRebuildDto[];
  imports: ImportDto[];
  jobs: JobDto[];
}

async function snapshot(): Promise<Snapshot> {
  const [rebuilds, imports, jobs] = await Promise.all([
    unwrap(listRenditionRebuilds({ query: { per_page: 5 } })),
    unwrap(listImports({ query: { limit: IMPORTS_SHOWN } })),
    unwrap(listJobs({ query: { limit: 15 } })),
  ]);
  return { rebuilds: rebuilds.items, imports: imports.items, jobs: jobs.items };
}

/** Bulk imports and rendition rebuilds, with their progress as it happens. */
export function Jobs() {
  const [data, setData] = useState<Snapshot>();
  // The last round's failure: a refusal (403) is not asked again by itself, only by "Try again".
  const [error, setError] = useState<ReadFailure>();
  const [notice, setNotice] = useState<NoticeValue>();
  const timer = useRef<number>(undefined);
  /** Asks at once (the person's "Try again"), unless a round is being asked now. */
  const askNow = useRef<() => void>(() => undefined);

  useEffect(() => {
    let open = true;
    // A round is being asked or is due: a tab shown again starts one only when none is.
    let due = false;
    // A round is being asked now.
    let asking = false;
    // Rounds failed in a row, and the last one's failure: the next waits longer (nextReadInMs).
    let failures = 0;
    let failure: unknown;
    const poll = async () => {
      due = true;
      asking = true;
      try {
        const next = await snapshot();
        failures = 0;
        if (open) {
          setData(next);
          setError(undefined);
        }
      } catch (caught) {
        failures += 1;
        failure = caught;
        const failed = readFailure(caught);
        if (open)
          setError(
            failed.refused
              ? { ...failed, message: 'Jobs are shown to administrators only.' }
              : failed,
          );
        // A refusal lasts until an administrator lifts it: asking again every two seconds would
        // only be refused again ("Try again" asks once more).
        if (failed.refused) return;
      } finally {
        asking = false;
      }
      if (!open) return;
      // A hidden tab asks nothing (every open one polled the service, all day): it asks again
      // when it is shown.
      if (document.hidden) due = false;
      else
        timer.current = window.setTimeout(
          () => void poll(),
          nextReadInMs(POLL_MS, failures, failure),
        );
    };
    const shown = () => {
      if (open && !due && !document.hidden) void poll();
    };
    askNow.current = () => {
      if (!open || asking) return;
      window.clearTimeout(timer.current);
      void poll();
    };
    document.addEventListener('visibilitychange', shown);
    void poll();
    return () => {
      open = false;
      window.clearTimeout(timer.current);
      document.removeEventListener('visibilitychange', shown);
    };
  }, []);

  const rebuild = async () => {
    try {
      const run = await unwrap(startRenditionRebuild());
      setNotice({ kind: 'success', text: `Rebuild ${run.state}: ${run.total} images to check.` });
    } catch (caught) {
      setNotice({ kind: 'error', text: messageOf(caught) });
    }
  };

  return (
    <Page
      title="Jobs"
      lead="Background work: bulk imports and rendition rebuilds, updated every two seconds while the page is shown (less often while they cannot be read)."
    >
      <Notice notice={notice} />
      {/* Asked again by itself (but a refusal), later after each failure; "Try again" at once. */}
      {error && <ReadError failure={error} retry={() => askNow.current()} />}
      {!data && !error && <p class="loading">Loading jobs…</p>}
      {data && (
        <div class="jobs-layout">
          <section class="panel" aria-labelledby="imports-title">
            <h2 id="imports-title">Bulk imports</h2>
            {data.imports.length === 0 ? (
              <p class="empty">No recent imports.</p>
            ) : (
              <ul class="progress-list">
                {data.imports.map((i) => (
                  <ProgressItem
                    key={i.id}
                    label={`Import of ${formatDate(i.created_at)}`}
                    state={i.state}
                    done={i.counts.done}
                    total={i.counts.total}
                    detail={`${i.counts.ok} ok, ${i.counts.failed} failed, ${i.counts.pending} pending · ${i.format.toUpperCase()}`}
                    to={`/jobs/imports/${i.id}`}
                  >
                    {i.counts.failed > 0 && (
                      <Link class="subtle-link" to={`/jobs/imports/${i.id}?status=failed`}>
                        {i.counts.failed === 1
                          ? 'The failed row'
                          : `The ${i.counts.failed} failed rows`}
                        <span class="visually-hidden">
                          {' '}
                          of the {`import of ${formatDate(i.created_at)}`}
                        </span>
                      </Link>
                    )}
                  </ProgressItem>
                ))}
              </ul>
            )}
          </section>
          <section class="panel" aria-labelledby="rebuilds-title">
            <div class="section-head">
              <h2 id="rebuilds-title">Rendition rebuilds</h2>
              <button type="button" class="button small" onClick={() => void rebuild()}>
                Re-make renditions
              </button>
            </div>
            {data.rebuilds.length === 0 ? (
              <p class="empty">No rebuild has run: the presets have not changed.</p>
            ) : (
              <ul class="progress-list">
                {data.rebuilds.map((r) => (
                  <ProgressItem
                    key={r.id}
                    label={`Rebuild of ${formatDate(r.created_at)} (${r.trigger})`}
                    state={r.state}
                    done={r.done + r.failed}
                    total={r.total}
                    detail={`${r.done} done, ${r.failed} failed · ${r.presets}`}
                  />
                ))}
              </ul>
            )}
          </section>
          <section class="panel jobs-recent" aria-labelledby="recent-title">
            <h2 id="recent-title">Recent jobs</h2>
            <JobTable jobs={data.jobs} />
          </section>
        </div>
      )}
    </Page>
  );
}

interface ProgressProps {
  label: string;
  state: string;
  done: number;
  total: number;
  detail: string;
  /** Where its label leads: the import's rows. */
  to?: string;
  /** Links under the detail. */
  children?: ComponentChildren;
}

function ProgressItem({ label, state, done, total, detail, to, children }: ProgressProps) {
  return (
    <li class="progress-item">
      <div class="progress-head">
        <span class="progress-label">{to ? <Link to={to}>{label}</Link> : label}</span>
        <span class={`tag tag-${state}`}>{state}</span>
      </div>
      <progress max={Math.max(total, 1)} value={done} aria-label={label} />
      <p class="tile-meta">
        {done} of {total} done · {detail}
      </p>
      {children}
    </li>
  );
}

function JobTable({ jobs }: { jobs: JobDto[] }) {
  if (jobs.length === 0) return <p class="empty">No jobs yet.</p>;
  return (
    <div class="table-scroll" tabIndex={0} role="region" aria-labelledby="recent-title">
      <table>
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id}>
              <td>{job.queue}</td>
              <td>
                <span class={`tag tag-${job.state}`}>{job.state}</span>
              </td>
              <td>{formatDate(job.created_at)}</td>
              <td>{job.retry_count + 1}</td>
              <td>{job.error === null ? '—' : <bdi>{job.error}</bdi>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
