import { useEffect, useState } from 'preact/hooks';
import { listStandaloneImages, type ListStandaloneImagesData, type StandaloneImageDto } from '@sdk';
import { readInSession, unwrap } from '../api';
import { CopyField } from '../components/copy-field';
import { Link } from '../components/link';
import { Pager } from '../components/pager';
import { keepFocusInPage, Page } from '../components/page';
import { Picture } from '../components/picture';
import { ReadError, readFailure, useRetry, type ReadFailure } from '../components/read-failed';
import { formatBytes, formatDate } from '../format';
import { navigateFilter, type Location } from '../router';

type Purpose = NonNullable<NonNullable<ListStandaloneImagesData['query']>['purpose']>;
const PURPOSES: Purpose[] = ['product', 'account', 'user', 'category'];

const isPurpose = (value: string | null): value is Purpose => PURPOSES.includes(value as Purpose);

/** The organisation's stand-alone images (uploads in no gallery), by purpose. */
export function Assets({ location }: { location: Location }) {
  const asked = location.query.get('purpose');
  const purpose = isPurpose(asked) ? asked : undefined;
  const cursor = location.query.get('cursor') ?? undefined;
  // Each listing is shown only under the filter and page it was read for: never, even for the
  // frame before a new read starts, the last listing (and its next page) under another filter.
  const listed = `${purpose ?? ''}/${cursor ?? ''}`;
  const [listing, setListing] = useState<{
    of: string;
    items: StandaloneImageDto[];
    next?: string | null;
  }>();
  const [failed, setFailed] = useState<{ of: string } & ReadFailure>();
  // The person's "Try again": each reads the page again.
  const [attempt, retry] = useRetry(setFailed);
  const items = listing?.of === listed ? listing.items : undefined;
  const next = listing?.of === listed ? listing.next : undefined;
  const error = failed?.of === listed ? failed : undefined;

  useEffect(() => {
    let current = true;
    readInSession(() =>
      unwrap(listStandaloneImages({ query: { limit: 24, purpose, cursor } })),
    ).then(
      (page) => current && setListing({ of: listed, items: page.items, next: page.next_cursor }),
      (e: unknown) => current && setFailed({ of: listed, ...readFailure(e) }),
    );
    return () => {
      current = false;
    };
  }, [listed, attempt]);

  useEffect(() => {
    if (items) keepFocusInPage();
  }, [items]);

  return (
    <Page
      title="Assets"
      lead="Images uploaded on their own (logos, banners, uploads not yet in a gallery)."
    >
      <div class="toolbar">
        <div class="field inline-field">
          <label for="purpose-filter">Purpose</label>
          <select
            id="purpose-filter"
            value={purpose ?? ''}
            onChange={(e) => {
              const value = e.currentTarget.value;
              navigateFilter(value ? `/assets?purpose=${value}` : '/assets');
            }}
          >
            <option value="">Every purpose</option>
            {PURPOSES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </div>
      </div>
      {error && <ReadError failure={error} retry={retry} />}
      {!items && !error && <p class="loading">Loading assets…</p>}
      {items?.length === 0 && <p class="empty">No {purpose ? `${purpose} ` : ''}assets.</p>}
      {items && items.length > 0 && (
        <ul class="asset-list">
          {items.map((image) => (
            <li key={image.id} class="asset-card">
              <Picture
                class="asset-picture"
                image={image.responsive.thumb ?? Object.values(image.responsive)[0]}
                alt={image.alt_text ?? ''}
                sizes="120px"
              />
              <div class="asset-body">
                <h2 class="asset-title">
                  <Link to={`/assets/${image.id}`}>
                    <bdi>{image.title || image.original_filename || image.id}</bdi>
                  </Link>
                </h2>
                <p class="tile-meta">
                  <span class="tag">{image.purpose}</span> {image.width}×{image.height} ·{' '}
                  {image.format.toUpperCase()} · {formatBytes(image.size)} ·{' '}
                  {formatDate(image.created_at)}
                </p>
                <CopyField label="Storage key" value={image.key} />
                <CopyField label="URL" value={image.url} />
              </div>
            </li>
          ))}
        </ul>
      )}
      {/* A page that could not be read (a cursor from an old listing, mistyped) offers the first. */}
      {(items || error) && (
        <Pager
          label="Pages of assets"
          first={purpose ? `/assets?purpose=${purpose}` : '/assets'}
          cursor={cursor}
          next={
            next &&
            `/assets?${purpose ? `purpose=${purpose}&` : ''}cursor=${encodeURIComponent(next)}`
          }
        />
      )}
    </Page>
  );
}
