import type { ResponsiveImageDto } from '@sdk';

interface Props {
  /** `responsive.<preset>` of an image in an API response. */
  image: ResponsiveImageDto | undefined;
  /** The image's own alt text ("" for an image the text around it already describes). */
  alt: string;
  /** The slot's width, as `<img sizes>` says it. */
  sizes: string;
  class?: string;
}

/**
 * An image as the README's <picture> example renders it: AVIF, then WebP, then the fallback, the
 * browser taking the width the slot needs from each srcset. Nothing is built here: the srcsets
 * come from the API response as they are.
 */
export function Picture({ image, alt, sizes, class: className }: Props) {
  if (!image) return <span class={`picture-missing ${className ?? ''}`}>No preview</span>;
  return (
    <picture class={className}>
      <source type="image/avif" srcset={image.srcset.avif} sizes={sizes} />
      <source type="image/webp" srcset={image.srcset.webp} sizes={sizes} />
      <img
        src={image.src}
        srcset={image.srcset.fallback}
        sizes={sizes}
        width={image.width}
        height={image.height}
        alt={alt}
        loading="lazy"
        decoding="async"
      />
    </picture>
  );
}
