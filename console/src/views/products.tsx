import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { createProduct, listProducts, type ProductDto } from '@sdk';
import {
  CallFailed,
  doneAnswerLost,
  messageOf,
  newIdempotencyKey,
  readInSession,
  retryable,
  unwrap,
} from '../api';
import { Link } from '../components/link';
import { Pager } from '../components/pager';
import { ReadError, readFailure, useRetry, type ReadFailure } from '../components/read-failed';
import { NewItemPanel } from '../components/new-item-panel';
import { Notice, type NoticeValue } from '../components/notice';
import { keepFocusInPage, Page } from '../components/page';
import { navigate, type Location } from '../router';
import { canChange, useSession } from '../session';
import { quoted } from '../format';

const PAGE_SIZE = 24;

/** Digits of a GTIN's length: searched as a GTIN too. */
const GTIN = /^\d{8}$|^\d{12,14}$/;

/**
 * The slug the service makes from a name (src/products/slug.ts: transliterated to ASCII, lower
 * case, words joined by "-"). The transliteration's tables (half a megabyte) are loaded only for
 * text beyond ASCII, which is already its own transliteration.
 */
async function slugOf(text: string): Promise<string> {
  const composed = text.normalize('NFC');
  // eslint-disable-next-line no-control-regex -- ASCII is U+0000 to U+007F
  const ascii = /^[\u0000-\u007f]*$/.test(composed)
    ? composed
    : // Tables that fail to load (a deploy replaced them) leave the slug search out, not the rest.
      await import('any-ascii').then(
        (module) => module.default(composed),
        () => '',
      );
  return ascii
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100)
    .replace(/-+$/g, '');
}

/** A filter the API refuses (an external id with "/", say) finds nothing, rather than failing. */
async function orNothing(call: Promise<ProductDto[]>): Promise<ProductDto[]> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof CallFailed && error.status === 400) return [];
    throw error;
  }
}

/**
 * The API's product filters match exactly: the text is looked up as an external id, as a slug (a
 * product's name typed in full finds it by the slug made from it) and, when it is digits of a
 * GTIN's length, as a GTIN (digits can be any of the three: `20231231` may name a product).
 */
async function search(text: string): Promise<ProductDto[]> {
  const by = (query: { gtin?: string; external_id?: string; slug?: string }) =>
    orNothing(unwrap(listProducts({ query: { ...query, limit: PAGE_SIZE } })).then((p) => p.items));
  const slug = await slugOf(text);
  const found = await Promise.all([
    GTIN.test(text) ? by({ gtin: text }) : Promise.resolve([]),
    by({ external_id: text }),
    slug ? by({ slug }) : Promise.resolve([]),
  ]);
  return [...new Map(found.flat().map((p) => [p.id, p])).values()];
}

interface Listing {
  items: ProductDto[];
  next?: string | null;
}

/** What the next Products page says once shown: a product just deleted (its page is gone). */
let announced: string | undefined;

/** Says `text` on the Products page the person is sent to next. */
export function announceOnProducts(text: string): void {
  announced = text;
}

export function Products({ location }: { location: Location }) {
  const q = location.query.get('q') ?? '';
  const cursor = location.query.get('cursor') ?? undefined;
  // The listing of the page it was read for: after a new search, the one before is not shown
  // (nor found by a test) under the new address while the new one is read.
  const [loaded, setLoaded] = useState<{ of: string; listing: Listing }>();
  // The read's failure, and whether reading again may help (not for a page's address refused).
  const [error, setError] = useState<ReadFailure>();
  // The person's "Try again": each reads the page again.
  const [attempt, retry] = useRetry(setError);
  const [text, setText] = useState(q);
  const changeable = canChange(useSession());
  const [notice, setNotice] = useState<NoticeValue>();

  // Put in the live region once it is in the page, so that a screen reader says it.
  useEffect(() => {
    if (announced === undefined) return;
    setNotice({ kind: 'success', text: announced });
    announced = undefined;
  }, []);

  const page = `${q}\0${cursor ?? ''}\0${attempt}`;
  const listing = loaded?.of === page ? loaded.listing : undefined;

  // The search box shows the search the page is of (not again after a "Try again": what the
  // person typed meanwhile stays). Set with the page's render (a layout effect), not after it is
  // painted: a search typed in between, at once, was put back to the one before.
  useLayoutEffect(() => setText(q), [q, cursor]);

  useEffect(() => {
    let current = true;
    setError(undefined);
    const load = (): Promise<Listing> =>
      q
        ? search(q).then((items) => ({ items }))
        : unwrap(listProducts({ query: { limit: PAGE_SIZE, cursor } })).then((page) => ({
            items: page.items,
            next: page.next_cursor,
          }));
    readInSession(load).then(
      (value) => current && setLoaded({ of: page, listing: value }),
      (caught: unknown) => current && setError(readFailure(caught)),
    );
    return () => {
      current = false;
    };
  }, [q, cursor, attempt, page]);

  useEffect(() => {
    if (listing) keepFocusInPage();
  }, [listing]);

  const submit = (event: Event) => {
    event.preventDefault();
    const value = text.trim();
    navigate(value ? `/products?q=${encodeURIComponent(value)}` : '/products');
  };

  return (
    <Page title="Products" lead="Each product's gallery: open one to arrange its images.">
      <div class="toolbar">
        <form role="search" class="search" onSubmit={submit}>
          <label for="product-search">Find by GTIN, external id or name</label>
          <div class="search-row">
            <input
              id="product-search"
              type="search"
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
              placeholder="4006381333931"
            />
            <button type="submit" class="button">
              Search
            </button>
            {q && (
              <Link class="button subtle" to="/products">
                Show all
              </Link>
            )}
          </div>
        </form>
        {changeable && <NewProduct />}
      </div>
      <Notice notice={notice} />
      {error && <ReadError failure={error} retry={retry} />}
      {!listing && !error && <p class="loading">Loading products…</p>}
      {listing && <ProductList items={listing.items} searched={q} />}
      {/* A page that could not be read (a cursor from an old listing, mistyped) offers the first. */}
      {(listing || error) && !q && (
        <Pager
          label="Pages of products"
          first="/products"
          cursor={cursor}
          next={listing?.next && `/products?cursor=${encodeURIComponent(listing.next)}`}
        />
      )}
    </Page>
  );
}

function ProductList({ items, searched }: { items: ProductDto[]; searched: string }) {
  if (items.length === 0) {
    return (
      <p class="empty">
        {searched
          ? `No product has the GTIN, external id or name ${quoted(searched)}.`
          : 'No products yet: create one.'}
      </p>
    );
  }
  return (
    <ul class="product-list">
      {items.map((product) => (
        <li key={product.id} class="product-card">
          <div class="product-thumb">
            {product.primary_image?.renditions.thumb ? (
              <img
                src={product.primary_image.renditions.thumb}
                alt={product.primary_image.alt_text}
                width={96}
                height={96}
                loading="lazy"
                decoding="async"
              />
            ) : (
              <span class="picture-missing">No image</span>
            )}
          </div>
          <div class="product-body">
            <h2 class="product-name">
              <Link to={`/products/${product.id}`}>
                <bdi>{product.name}</bdi>
              </Link>
            </h2>
            <dl class="facts-inline">
              <div>
                <dt>GTIN</dt>
                <dd>{product.gtin ?? '—'}</dd>
              </div>
              <div>
                <dt>External id</dt>
                <dd>{product.external_id ?? '—'}</dd>
              </div>
              <div>
                <dt>Images</dt>
                <dd>{product.image_count}</dd>
              </div>
            </dl>
          </div>
        </li>
      ))}
    </ul>
  );
}

/** Creating a product: its name, and optionally its GTIN and external id. */
function NewProduct() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [gtin, setGtin] = useState('');
  const [externalId, setExternalId] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  /**
   * The last attempt's Idempotency-Key and body, while that attempt may be sent again: pressed
   * again with the same fields after no answer (or a failure on the service's side), the same
   * key gets the first answer (the product made then), not a second product.
   */
  const attempt = useRef<{ key: string; body: string } | undefined>(undefined);

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    const body = {
      name: name.trim(),
      ...(gtin.trim() ? { gtin: gtin.trim() } : {}),
      ...(externalId.trim() ? { external_id: externalId.trim() } : {}),
    };
    const same = attempt.current?.body === JSON.stringify(body);
    const key = same && attempt.current ? attempt.current.key : newIdempotencyKey();
    attempt.current = { key, body: JSON.stringify(body) };
    try {
      const product = await unwrap(createProduct({ body, headers: { 'Idempotency-Key': key } }));
      navigate(`/products/${product.id}`);
    } catch (caught) {
      // A refusal of the fields is the service's answer to them: pressed again (say once the
      // GTIN is freed), the request is a new one, under a new key.
      if (!retryable(caught)) attempt.current = undefined;
      setError(
        doneAnswerLost(caught)
          ? 'The product was made, but the service’s answer was lost: find it in the list.'
          : messageOf(caught),
      );
      setBusy(false);
    }
  };

  return (
    <NewItemPanel
      open={open}
      onOpen={() => setOpen(true)}
      onCancel={() => setOpen(false)}
      onSubmit={() => void submit()}
      id="new-product"
      title="New product"
      submitLabel="Create product"
      busy={busy}
      error={error}
    >
      <div class="field">
        {/* No maxlength: the browser counts UTF-16 units, the service characters (and says its limit). */}
        <label for="new-product-name">Name</label>
        <input
          id="new-product-name"
          required
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="new-product-gtin">GTIN (optional)</label>
        <input
          id="new-product-gtin"
          inputMode="numeric"
          value={gtin}
          onInput={(e) => setGtin(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="new-product-external-id">External id (optional)</label>
        <input
          id="new-product-external-id"
          value={externalId}
          onInput={(e) => setExternalId(e.currentTarget.value)}
        />
      </div>
    </NewItemPanel>
  );
}
