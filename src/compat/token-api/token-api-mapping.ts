import type { ImageDto, UploaderDto } from '../../images/dto/image.dto';
import type { TokenApiImageDto, TokenApiUserDto } from './dto/token-api-image.dto';

/** The token API's `type`: the stored format as PIL names it (SVG, which PIL cannot read, too). */
const TYPES: Record<string, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  gif: 'GIF',
  webp: 'WEBP',
  avif: 'AVIF',
  svg: 'SVG',
};
export const TOKEN_API_TYPES = Object.values(TYPES);

/** The service's colour modes as PIL names them. */
const MODES: Record<string, string> = {
  RGB: 'RGB',
  RGBA: 'RGBA',
  CMYK: 'CMYK',
  GRAYSCALE: 'L',
  GRAYSCALE_ALPHA: 'LA',
};
/** What PIL calls a palette image. */
const PALETTE = 'P';
export const TOKEN_API_MODES = [...Object.values(MODES), PALETTE];

/** `jpeg` → `JPEG`: the stored original's format as PIL names it. */
export function tokenApiType(format: string): string {
  return TYPES[format] ?? format.toUpperCase();
}

/**
 * The colour mode as PIL names it. A GIF is a palette image (`P`) whatever its colours; the other
 * formats map the mode the service recorded of the upload: RGB, RGBA, CMYK, L (grey), LA.
 */
export function tokenApiMode(format: string, colorMode: string): string {
  if (format === 'gif') return PALETTE;
  return MODES[colorMode] ?? colorMode;
}

/**
 * The token API's `user`: the uploader, by its number (users.number); for an upload that names no
 * user (an API key made with the CLI, or whose creator was deleted), `id` 0 (numbers start at 1),
 * no username, and the key's name as `full_name`.
 */
export function tokenApiUser(
  uploader: UploaderDto | null,
  uploaderNumber: number | null,
  apiKeyName: string | null,
): TokenApiUserDto {
  if (uploader && uploaderNumber !== null) {
    return { id: uploaderNumber, username: uploader.username, full_name: uploader.full_name };
  }
  return { id: 0, username: '', full_name: apiKeyName ?? '' };
}

/** An image of the main API as the token API shows it, with its number and its uploader. */
export function toTokenApiImage(
  image: ImageDto,
  number: number,
  user: TokenApiUserDto,
): TokenApiImageDto {
  return {
    id: number,
    type: tokenApiType(image.format),
    user,
    name: image.original_filename,
    f: image.url,
    size: image.size,
    description: image.description,
    width: image.width,
    height: image.height,
    human_readable_size: image.human_readable_size,
    mode: tokenApiMode(image.format, image.color_mode),
    created_at: image.created_at,
    updated_at: image.updated_at,
  };
}
