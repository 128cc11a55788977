import type { TransformFitName, TransformOptions } from './transform-options';

/** What a result is made as: its final size, fit, format and quality. */
export interface TransformPlan {
  width: number;
  height: number;
  fit: TransformFitName;
  format: 'avif' | 'webp' | 'jpeg' | 'png' | 'gif';
  quality: number;
  /** Whether the format was chosen from the request's Accept (the answer then varies by it). */
  negotiated: boolean;
  /** The result's name among its image's results: the same plan, the same name. */
  variant: string;
}

/** What the plan needs of the original, as its row records it. */
export interface OriginalFacts {
  width: number;
  height: number;
  /** jpeg, png, gif, webp, avif or svg. */
  format: string;
  hasAlpha: boolean;
}

export interface PresetBox {
  name: string;
  width: number;
  height: number;
  fit: TransformFitName;
}

/** What results are planned with: the configured presets and width ladder, and the pixel limit. */
export interface PlanSettings {
  presets: readonly PresetBox[];
  ladder: readonly number[];
  /** MAX_IMAGE_PIXELS: the most pixels a result may have (a contain box may outgrow its image). */
  maxPixels: number;
}

/** Thrown for a preset the configuration does not name. */
export class UnknownPresetError extends Error {}

/** Encoder quality when the URL names none: sizes a person cannot tell from the original's. */
const DEFAULT_QUALITY: Record<TransformPlan['format'], number> = {
  avif: 50,
  webp: 80,
  jpeg: 82,
  png: 100,
  gif: 100,
};

/**
 * The default width ladder: 64 to 3840 in steps of about 1.25×. Requested widths (heights, when
 * only a height is asked for) are rounded up to the next step, so an image has a bounded number of
 * results whatever sizes its pages ask for.
 */
export const DEFAULT_WIDTH_LADDER = [
  64, 80, 96, 128, 160, 200, 256, 320, 400, 512, 640, 800, 1024, 1280, 1600, 2048, 2560, 3200, 3840,
];

/**
 * Decides what a transform URL makes of an original: the box (from the preset or w/h, times the
 * pixel ratio, snapped up to the ladder unless a preset names it, never beyond the original), the
 * fit, the format (auto
 * negotiated from `accept`) and the quality. Pure.
 */
export function planTransform(
  options: TransformOptions,
  original: OriginalFacts,
  context: PlanSettings & { accept: string | undefined },
): TransformPlan {
  const requested = requestedBox(options, context.presets);
  const scaled = scaleBox(requested, original, options.dpr);
  // A preset's box is already one of a few configured sizes: it is made as configured.
  const snapped = options.preset ? rounded(scaled) : snap(scaled, context.ladder);
  const capped = capToOriginal(snapped, original, requested.fit, context.maxPixels);
  const box = withinLongestSide(capped);
  // A box of the image's own shape (one side asked for, or none), scaled down to the longest
  // side, keeps the whole image: in whole pixels a 1×20000 strip cannot keep its ratio, and
  // cover would crop its ends.
  const ownShape = requested.width === undefined || requested.height === undefined;
  const fit = box !== capped && ownShape ? 'inside' : requested.fit;
  const { format, negotiated } = chooseFormat(options.format, original, context.accept);
  const quality = options.quality ?? DEFAULT_QUALITY[format];
  const mark = limitMark(box, original, format, context.maxPixels);
  const variant = `${box.width}x${box.height}-${fit}-q${qualityNamed(format, quality)}${mark}`;
  return { ...box, fit, format, quality, negotiated, variant };
}

/**
 * The quality a result's name carries. PNG and GIF are encoded without one (lossless, or a
 * palette: image-codec.ts), so every `q_` makes the same bytes: named by the default, they are one
 * result, not a hundred copies of it in storage (and a hundred makings) for `q_1` … `q_100`.
 */
function qualityNamed(format: TransformPlan['format'], quality: number): number {
  return format === 'png' || format === 'gif' ? DEFAULT_QUALITY[format] : quality;
}

/**
 * `-p<MAX_IMAGE_PIXELS in base 36>` (short: a variant has 32 characters at most) where what is
 * made depends on the limit as well as on the plan: an animation padded into a box larger than
 * itself is made whole, or as a still of its first frame once its frames in the box pass the
 * limit (image-processor.ts). The limit in the name keeps the two apart: raised, the animation is
 * made again, not the still served for ever; instances with different limits on one storage do
 * not overwrite each other. Empty otherwise.
 */
function limitMark(
  box: { width: number; height: number },
  original: OriginalFacts,
  format: TransformPlan['format'],
  maxPixels: number,
): string {
  const animatable = format === 'webp' || format === 'gif';
  const enlarged = box.width * box.height > original.width * original.height;
  return animatable && enlarged && mayBeAnimated(original) ? `-p${maxPixels.toString(36)}` : '';
}

interface RequestedBox {
  width?: number;
  height?: number;
  fit: TransformFitName;
}

function requestedBox(options: TransformOptions, presets: readonly PresetBox[]): RequestedBox {
  if (!options.preset)
    return { width: options.width, height: options.height, fit: options.fit ?? 'cover' };
  const preset = presets.find((p) => p.name === options.preset);
  if (!preset) throw new UnknownPresetError(`No preset named ${options.preset}.`);
  return { width: preset.width, height: preset.height, fit: preset.fit };
}

/**
 * The box in device pixels, both sides known: a missing side follows the original's ratio (and
 * the fit no longer matters: the box has the image's own shape).
 */
function scaleBox(
  box: RequestedBox,
  original: OriginalFacts,
  dpr: number,
): { width: number; height: number; exact: 'width' | 'height' } {
  const ratio = original.width / original.height;
  const width = box.width ?? (box.height ? box.height * ratio : original.width);
  const height = box.height ?? width / ratio;
  const exact = box.width === undefined && box.height !== undefined ? 'height' : 'width';
  return { width: width * dpr, height: height * dpr, exact };
}

function rounded(box: { width: number; height: number }): { width: number; height: number } {
  return { width: Math.max(1, Math.round(box.width)), height: Math.max(1, Math.round(box.height)) };
}

/** The ladder's step a length rounds up to; past the ladder's end, its last step. */
export function snapToLadder(ladder: readonly number[], length: number): number {
  return ladder.find((step) => step >= Math.round(length)) ?? ladder[ladder.length - 1];
}

/** The side that was asked for, rounded up to the ladder; the other follows the box's ratio. */
function snap(
  box: { width: number; height: number; exact: 'width' | 'height' },
  ladder: readonly number[],
): { width: number; height: number } {
  const side = box.exact === 'width' ? box.width : box.height;
  const step = snapToLadder(ladder, side);
  const scale = step / side;
  return {
    width: Math.max(1, Math.round(box.width * scale)),
    height: Math.max(1, Math.round(box.height * scale)),
  };
}

/**
 * The image is never enlarged, and no result has more than `maxPixels`. `inside` fits the image
 * in the box, then never enlarges it: the box's short side limits, and only once (a 1600×1200
 * original in a 1600×1600 box stays 1600×1200). The other fits keep the box's ratio, scaled down as far as needed:
 * - `cover` and `attention` fill the box with the image: until the box fits in the original (a
 *   request for more pixels than exist gets the original's);
 * - `contain` pads the whole image to the box: until the image in it is at most its own size, and
 *   no side is longer than the original's longest (an 800×600 photo in an 800×800 box stays
 *   800×800 with the photo at 800×600; shrinking the box until it fits in the original, as for
 *   cover, made it 600×600 with the photo at 600×450). A box padding a long, narrow image is
 *   mostly padding, and may have far more pixels than the image: it is scaled down, ratio kept,
 *   to at most `maxPixels` (a 12000×1500 panorama asked for in 3840×12000 would be 46 million).
 * The other fits' boxes fit in the original, whose pixels are within the limit already.
 */
function capToOriginal(
  box: { width: number; height: number },
  original: OriginalFacts,
  fit: TransformFitName,
  maxPixels: number,
): { width: number; height: number } {
  if (fit === 'inside') {
    const inside = Math.min(1, box.width / original.width, box.height / original.height);
    return {
      width: Math.max(1, Math.round(original.width * inside)),
      height: Math.max(1, Math.round(original.height * inside)),
    };
  }
  const [widthRatio, heightRatio] = [original.width / box.width, original.height / box.height];
  const longest = Math.max(original.width, original.height);
  const scale =
    fit === 'contain'
      ? Math.min(
          1,
          Math.max(widthRatio, heightRatio),
          longest / box.width,
          longest / box.height,
          Math.sqrt(maxPixels / (box.width * box.height)),
        )
      : Math.min(1, widthRatio, heightRatio);
  const capped = rounded({ width: box.width * scale, height: box.height * scale });
  if (capped.width * capped.height <= maxPixels) return capped;
  // Rounded up past the limit: rounded down instead.
  return {
    width: Math.max(1, Math.floor(box.width * scale)),
    height: Math.max(1, Math.floor(box.height * scale)),
  };
}

/**
 * The longest side a result may have: WebP's limit (16383), which the codec enforces for every
 * format. An original within MAX_IMAGE_PIXELS may be longer (a 1000×20000 product-detail strip, a
 * panorama): its result is scaled down to it, ratio kept.
 */
export const MAX_RESULT_SIDE = 16383;

function withinLongestSide(box: { width: number; height: number }): {
  width: number;
  height: number;
} {
  const scale = MAX_RESULT_SIDE / Math.max(box.width, box.height);
  if (scale >= 1) return box;
  return {
    width: Math.min(MAX_RESULT_SIDE, Math.max(1, Math.round(box.width * scale))),
    height: Math.min(MAX_RESULT_SIDE, Math.max(1, Math.round(box.height * scale))),
  };
}

/**
 * Originals that may be animated: the row does not say whether one is, and an AVIF result (which
 * sharp cannot animate) would show its first frame alone, so WebP goes first for them.
 */
export function mayBeAnimated(original: Pick<OriginalFacts, 'format'>): boolean {
  return original.format === 'gif' || original.format === 'webp';
}

/**
 * `auto`: AVIF when the browser takes it, else WebP, else the original's own format where a
 * browser shows it everywhere (JPEG, PNG, GIF), else PNG for an image with transparency and JPEG
 * otherwise. A GIF or WebP (which may be animated) prefers WebP to AVIF (see mayBeAnimated). A
 * fallback the Accept header refuses (`image/jpeg;q=0`) gives way to one of JPEG, PNG and GIF it
 * names; refused with nothing else named, it stays (the client named nothing it can show).
 */
function chooseFormat(
  requested: TransformOptions['format'],
  original: OriginalFacts,
  accept: string | undefined,
): { format: TransformPlan['format']; negotiated: boolean } {
  if (requested !== 'auto') return { format: requested, negotiated: false };
  const { accepted, refused } = imageTypePreferences(accept);
  const order: TransformPlan['format'][] = mayBeAnimated(original)
    ? ['webp', 'avif']
    : ['avif', 'webp'];
  const modern = order.find((format) => accepted.has(`image/${format}`));
  if (modern) return { format: modern, negotiated: true };
  const fallback = fallbackFormat(original);
  if (!refused.has(`image/${fallback}`)) {
    return { format: fallback, negotiated: true };
  }
  const named = FALLBACKS.find((format) => accepted.has(`image/${format}`));
  return { format: named ?? fallback, negotiated: true };
}

/** The formats every browser shows, in the order a refused fallback looks for another. */
const FALLBACKS = ['png', 'jpeg', 'gif'] as const;

/** The original's own format where every browser shows it, else PNG or JPEG by transparency. */
function fallbackFormat(original: OriginalFacts): (typeof FALLBACKS)[number] {
  if (original.format === 'jpeg' || original.format === 'png' || original.format === 'gif') {
    return original.format;
  }
  return original.hasAlpha ? 'png' : 'jpeg';
}

/**
 * The image types an Accept header names with a non-zero quality. Wildcards do not count: a
 * browser that sends `*\/*` alone is not known to show AVIF or WebP. A type named both with and
 * without `q=0` is refused.
 */
export function acceptedImageTypes(accept: string | undefined): Set<string> {
  return imageTypePreferences(accept).accepted;
}

/** Of an Accept header longer than this, only the elements ending within it are read. */
const ACCEPT_READ = 1000;

/**
 * The image types an Accept header names, accepted or refused (`q=0`, which wins over a naming
 * of the same type without it). Only its first 1,000 characters are read, and of a longer header
 * only whole elements: a `;q=0` cut off would turn a refusal into an acceptance.
 */
function imageTypePreferences(accept: string | undefined): {
  accepted: Set<string>;
  refused: Set<string>;
} {
  const accepted = new Set<string>();
  const refused = new Set<string>();
  if (!accept) return { accepted, refused };
  // Of a longer header, the elements that end within its first 1,000 characters: one cut there
  // would lose its `;q=0`. (The last element ends at the header's end, not at a comma.)
  const elements = splitOutsideQuotes(accept, ',').filter(
    ({ end }) => accept.length <= ACCEPT_READ || end <= ACCEPT_READ,
  );
  for (const { text } of elements) {
    // RFC 9110 5.6.6: `type/subtype *( OWS ";" OWS parameter )`, OWS being spaces and tabs, so
    // each piece is trimmed on its own (`image/jpeg ;q=0` is `image/jpeg` refused). A space around
    // `=`, which the grammar does not allow, is read alike: a refusal is never taken for more.
    const [rawType, ...params] = splitOutsideQuotes(text.toLowerCase(), ';').map((p) => p.text);
    const type = rawType.trim();
    if (!type.startsWith('image/') || type.endsWith('/*')) continue;
    const weight = params
      .map((param) => param.split('='))
      .find(([name, value]) => name.trim() === 'q' && value !== undefined);
    (weight && !(Number(weight[1].trim()) > 0) ? refused : accepted).add(type);
  }
  for (const type of refused) accepted.delete(type);
  return { accepted, refused };
}

/**
 * `text` cut at each `separator` outside a quoted-string (RFC 9110 5.6.4: `"…"`, with `\` quoting
 * the next character), each piece with the index its separator (or the text's end) is at: a
 * parameter's quoted value (`foo="a,b"`) holds commas and semicolons that end nothing.
 */
function splitOutsideQuotes(text: string, separator: string): { text: string; end: number }[] {
  const pieces: { text: string; end: number }[] = [];
  let [start, quoted] = [0, false];
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === '\\') i++;
    else if (char === '"') quoted = !quoted;
    else if (!quoted && char === separator) {
      pieces.push({ text: text.slice(start, i), end: i });
      start = i + 1;
    }
  }
  pieces.push({ text: text.slice(start), end: text.length });
  return pieces;
}
