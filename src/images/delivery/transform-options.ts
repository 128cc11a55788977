/**
 * The options segment of a transform URL: comma-separated `key_value` tokens, each key at most
 * once, in any order (the signature covers the segment exactly as written):
 *
 * - `w_<px>`, `h_<px>`: the box, in CSS pixels (either or both; neither means the original's size)
 * - `c_<fit>`: cover (default; fill the box, cropped from the centre), attention (fill, cropped
 *   around what draws the eye), contain (the whole image, padded to the box), inside (the whole
 *   image within the box, never enlarged)
 * - `f_<format>`: avif, webp, jpeg, png, gif, or auto (default: chosen from the request's Accept);
 *   gif is what a GIF's srcset falls back to, and keeps its frames
 * - `q_<1-100>`: the encoder's quality (default per format)
 * - `dpr_<ratio>`: device pixel ratio, 1 to 4 (default 1): the box is multiplied by it
 * - `p_<preset>`: a configured rendition preset's box and fit (w, h and c may not be given too)
 *
 * Pure: no I/O, no configuration. Every failure is a {@link TransformOptionsError} saying why.
 */

export const TRANSFORM_FITS = ['cover', 'attention', 'contain', 'inside'] as const;
export type TransformFitName = (typeof TRANSFORM_FITS)[number];
export const TRANSFORM_FORMATS = ['auto', 'avif', 'webp', 'jpeg', 'png', 'gif'] as const;
export type TransformFormatName = (typeof TRANSFORM_FORMATS)[number];

/** The options as requested, before any preset, ladder, pixel ratio or original applies. */
export interface TransformOptions {
  width?: number;
  height?: number;
  fit?: TransformFitName;
  format: TransformFormatName;
  quality?: number;
  dpr: number;
  preset?: string;
}

export class TransformOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransformOptionsError';
  }
}

/** Far beyond any ladder; refuses absurd numbers before any arithmetic. */
const MAX_DIMENSION = 16_384;
const OPTIONS_MAX_LENGTH = 200;
/**
 * `key_value`: the key is the letters before the first `_`; the value may hold `_` and `-`, which
 * a preset's name may (IMAGE_RENDITIONS: `hero_wide`, `product-card`). Every value is then
 * checked by its own key's rule.
 */
const TOKEN = /^([a-z]+)_([a-z0-9._-]+)$/;
const INTEGER = /^[1-9][0-9]{0,5}$/;
const RATIO = /^[1-4](\.[0-9]{1,2})?$/;
const PRESET = /^[a-z][a-z0-9_-]{0,31}$/;

export function parseTransformOptions(segment: string): TransformOptions {
  if (segment.length === 0 || segment.length > OPTIONS_MAX_LENGTH) {
    throw new TransformOptionsError(`The options must be 1 to ${OPTIONS_MAX_LENGTH} characters.`);
  }
  const options: TransformOptions = { format: 'auto', dpr: 1 };
  const seen = new Set<string>();
  for (const token of segment.split(',')) {
    const match = TOKEN.exec(token);
    if (!match) throw new TransformOptionsError(`"${printable(token)}" is not a key_value option.`);
    const [, key, value] = match;
    if (seen.has(key)) throw new TransformOptionsError(`The option ${key} is given twice.`);
    seen.add(key);
    applyOption(options, key, value);
  }
  if (options.preset && (seen.has('w') || seen.has('h') || seen.has('c'))) {
    throw new TransformOptionsError(
      'A preset (p_) sets the box and fit: w, h and c cannot be added.',
    );
  }
  return options;
}

function applyOption(options: TransformOptions, key: string, value: string): void {
  switch (key) {
    case 'w':
      options.width = dimension('w', value);
      return;
    case 'h':
      options.height = dimension('h', value);
      return;
    case 'c':
      options.fit = oneOf('c', value, TRANSFORM_FITS);
      return;
    case 'f':
      options.format = oneOf('f', value, TRANSFORM_FORMATS);
      return;
    case 'q':
      options.quality = bounded('q', value, 1, 100);
      return;
    case 'dpr':
      if (!RATIO.test(value) || Number(value) > 4) {
        throw new TransformOptionsError('dpr must be a ratio from 1 to 4 (two decimals at most).');
      }
      options.dpr = Number(value);
      return;
    case 'p':
      if (!PRESET.test(value)) throw new TransformOptionsError('p must name a preset.');
      options.preset = value;
      return;
    default:
      throw new TransformOptionsError(`Unknown option ${key} (w, h, c, f, q, dpr or p).`);
  }
}

function dimension(key: string, value: string): number {
  return bounded(key, value, 1, MAX_DIMENSION);
}

function bounded(key: string, value: string, min: number, max: number): number {
  const n = INTEGER.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new TransformOptionsError(`${key} must be a whole number from ${min} to ${max}.`);
  }
  return n;
}

function oneOf<T extends string>(key: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new TransformOptionsError(`${key} must be one of ${allowed.join(', ')}.`);
  }
  return value as T;
}

/** A token as a message may quote it: short, printable ASCII only. */
function printable(token: string): string {
  return token.slice(0, 40).replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Whether the options may be served without a signature: a configured preset by name, with a
 * format at most. Its results are bounded by the presets and formats, like the renditions.
 */
export function isUnsignedAllowed(segment: string, options: TransformOptions): boolean {
  if (!options.preset) return false;
  return segment.split(',').every((token) => token.startsWith('p_') || token.startsWith('f_'));
}
