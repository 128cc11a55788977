import { useEffect, useState } from 'preact/hooks';
import { getProductImage, getStandaloneImage, type ImageDto, type StandaloneImageDto } from '@sdk';
import { readInSession, unwrap } from '../api';
import { CopyField } from '../components/copy-field';
import { Link } from '../components/link';
import { Page } from '../components/page';
import { ReadFailed, useRetry } from '../components/read-failed';
import { formatBytes, formatDate } from '../format';

const COLOUR_MODES: Record<string, string> = {
  RGB: 'RGB',
  RGBA: 'RGB with transparency',
  CMYK: 'CMYK',
  GRAYSCALE: 'Greyscale',
  GRAYSCALE_ALPHA: 'Greyscale with transparency',
};

interface Rendition {
  name: string;
  url: string;
  width?: number;
  height?: number;
  format?: string;
  size?: number | null;
}

/** A gallery image's detail: /products/:productId/images/:imageId. */
export function ProductImageDetail({ productId, imageId }: { productId: string; imageId: string }) {
  const [image, setImage] = useState<ImageDto>();
  const [error, setError] = useState<unknown>();
  const [attempt, retry] = useRetry(setError);
  useEffect(() => {
    readInSession(() => unwrap(getProductImage({ path: { productId, imageId } }))).then(
      setImage,
      (e: unknown) => setError(e ?? new Error()),
    );
  }, [productId, imageId, attempt]);
  if (error)
    return (
      <ReadFailed
        thing="Image"
        back={{ to: `/products/${productId}`, label: 'Go to the gallery' }}
        error={error}
        retry={retry}
      />
    );
  if (!image) return <p class="loading">Loading the image…</p>;
  // Smallest first: side by side, each at its real size.
  const renditions = Object.entries(image.renditions)
    .map(([name, r]) => ({ name, ...r }))
    .sort((a, b) => a.width - b.width);
  return (
    <Page
      title={image.title || image.original_filename || 'Image'}
      lead={<Link to={`/products/${productId}`}>Back to the gallery</Link>}
    >
      <div class="detail-layout">
        <section class="panel" aria-labelledby="original-title">
          <h2 id="original-title">The original</h2>
          <dl class="facts">
            <Fact name="Type">{`${image.mime_type} (${image.format.toUpperCase()})`}</Fact>
            <Fact name="File size">{`${image.human_readable_size} (${image.size.toLocaleString()} bytes)`}</Fact>
            <Fact name="Dimensions">{`${image.width} × ${image.height} pixels`}</Fact>
            <Fact name="Colour mode">{COLOUR_MODES[image.color_mode] ?? image.color_mode}</Fact>
            <Fact name="Original file name">
              {image.original_filename === null ? '—' : <bdi>{image.original_filename}</bdi>}
            </Fact>
            <Fact name="Uploaded by">
              {image.uploaded_by ? (
                <>
                  <bdi>{image.uploaded_by.full_name || image.uploaded_by.username}</bdi> (
                  {image.uploaded_by.username})
                </>
              ) : (
                '—'
              )}
            </Fact>
            <Fact name="Uploaded">{formatDate(image.created_at)}</Fact>
            <Fact name="Last changed">{formatDate(image.updated_at)}</Fact>
            <Fact name="Primary">{image.is_primary ? 'Yes' : 'No'}</Fact>
            <Fact name="Alt text">{image.alt_text || '—'}</Fact>
            <Fact name="Description">{image.description || '—'}</Fact>
            <Fact name="SHA-256">
              <code class="hash">{image.sha256}</code>
            </Fact>
          </dl>
          <CopyField label="Original URL" value={image.url} />
        </section>
        <Renditions renditions={renditions} alt={image.alt_text} />
      </div>
    </Page>
  );
}

/** A stand-alone image's detail: /assets/:imageId. */
export function AssetDetail({ imageId }: { imageId: string }) {
  const [image, setImage] = useState<StandaloneImageDto>();
  const [error, setError] = useState<unknown>();
  const [attempt, retry] = useRetry(setError);
  useEffect(() => {
    readInSession(() => unwrap(getStandaloneImage({ path: { imageId } }))).then(
      setImage,
      (e: unknown) => setError(e ?? new Error()),
    );
  }, [imageId, attempt]);
  if (error)
    return (
      <ReadFailed
        thing="Asset"
        back={{ to: '/assets', label: 'Go to the assets' }}
        error={error}
        retry={retry}
      />
    );
  if (!image) return <p class="loading">Loading the image…</p>;
  const renditions = Object.entries(image.renditions).map(([name, url]) => ({ name, url }));
  return (
    <Page
      title={image.title || image.original_filename || 'Asset'}
      lead={<Link to="/assets">Back to the assets</Link>}
    >
      <div class="detail-layout">
        <section class="panel" aria-labelledby="original-title">
          <h2 id="original-title">The original</h2>
          <dl class="facts">
            <Fact name="Purpose">{image.purpose}</Fact>
            <Fact name="Type">{image.format.toUpperCase()}</Fact>
            <Fact name="File size">{`${formatBytes(image.size)} (${image.size.toLocaleString()} bytes)`}</Fact>
            <Fact name="Dimensions">{`${image.width} × ${image.height} pixels`}</Fact>
            <Fact name="Original file name">
              {image.original_filename === null ? '—' : <bdi>{image.original_filename}</bdi>}
            </Fact>
            <Fact name="Uploaded">{formatDate(image.created_at)}</Fact>
            <Fact name="Last changed">{formatDate(image.updated_at)}</Fact>
            <Fact name="Expires">{image.expires_at ? formatDate(image.expires_at) : 'Never'}</Fact>
            <Fact name="Alt text">{image.alt_text || '—'}</Fact>
            <Fact name="Description">{image.description || '—'}</Fact>
          </dl>
          <CopyField label="Storage key" value={image.key} />
          <CopyField label="Original URL" value={image.url} />
        </section>
        <Renditions renditions={renditions} alt={image.alt_text ?? ''} />
      </div>
    </Page>
  );
}

function Fact({ name, children }: { name: string; children: preact.ComponentChildren }) {
  return (
    <div class="fact">
      <dt>{name}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** Every rendition side by side, each at its real size (a CSS pixel per pixel), scrolling sideways. */
function Renditions({ renditions, alt }: { renditions: Rendition[]; alt: string }) {
  return (
    <section class="panel renditions-panel" aria-labelledby="renditions-title">
      <h2 id="renditions-title">Renditions at their real size</h2>
      {renditions.length === 0 ? (
        <p class="empty">No renditions.</p>
      ) : (
        <div class="renditions" tabIndex={0} role="region" aria-labelledby="renditions-title">
          {renditions.map((r) => (
            <figure key={r.name} class="rendition">
              <img
                src={r.url}
                width={r.width}
                height={r.height}
                alt={alt ? `${alt} (${r.name})` : ''}
                decoding="async"
              />
              <figcaption>
                <strong>{r.name}</strong>
                {r.width && r.height ? ` · ${r.width} × ${r.height}` : ''}
                {r.format ? ` · ${r.format.toUpperCase()}` : ''}
                {r.size ? ` · ${formatBytes(r.size)}` : ''}
              </figcaption>
            </figure>
          ))}
        </div>
      )}
    </section>
  );
}
