import { AppError } from '../errors/app.error';

/**
 * The deepest nesting of objects and arrays a JSON body may have. The API's deepest body is two
 * levels; 32 leaves room for any honest client while keeping every recursive walk that follows
 * (class-transformer, class-validator, secure-json-parse) far from the stack's limit.
 */
export const MAX_JSON_DEPTH = 32;

/** Longest field path reported, so that long keys are not echoed back at length. */
const MAX_FIELD_LENGTH = 200;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** An open object or array: which member of it is being read (its key's text, or its index). */
interface Frame {
  array: boolean;
  index: number;
  expectKey: boolean;
  keyStart: number;
  keyEnd: number;
}

/** The index of the quote that closes the string opened at `start`, or the text's length. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  while (end !== -1) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
  return text.length;
}

function keyOf(text: string, frame: Frame): string {
  const raw = text.slice(frame.keyStart, frame.keyEnd);
  try {
    return String(JSON.parse(raw));
  } catch {
    return raw.slice(1, -1);
  }
}

/** `a.0.b`, as class-validator's field paths are written, shortened when long. */
function pathOf(text: string, frames: Frame[]): string {
  const path = frames.map((f) => (f.array ? String(f.index) : keyOf(text, f))).join('.');
  return path.length > MAX_FIELD_LENGTH ? `${path.slice(0, MAX_FIELD_LENGTH)}…` : path;
}

/**
 * The path of the first object or array of a JSON text nested deeper than `maxDepth`, or
 * undefined. A scan of the text, not a parse: no recursion (so any depth is safe to look at), no
 * allocation but one small frame per level up to the limit, and strings skipped with indexOf, so
 * a body that is mostly one long string (a data URI) costs little. It does not check the syntax:
 * JSON.parse does that afterwards. Exported for parsers of other bodies (a streaming one counts
 * its own depth and reports with {@link jsonTooDeep}).
 */
export function jsonNestingPath(text: string, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const frames: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = frames[frames.length - 1] as Frame | undefined;
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (top && !top.array && top.expectKey) {
        top.keyStart = i;
        top.keyEnd = end + 1;
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (frames.length >= maxDepth) return pathOf(text, frames);
      const array = c === OPEN_ARRAY;
      frames.push({ array, index: 0, expectKey: !array, keyStart: -1, keyEnd: -1 });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      frames.pop();
    } else if (c === COMMA && top) {
      top.index++;
      top.expectKey = !top.array;
    } else if (c === COLON && top) {
      top.expectKey = false;
    }
  }
  return undefined;
}

/** The problem for a body nested too deeply: 400 validation_failed, naming where. */
export function jsonTooDeep(path: string, maxDepth = MAX_JSON_DEPTH): AppError {
  return new AppError(
    'validation_failed',
    `The JSON body is nested more than ${maxDepth} levels deep.`,
    [{ field: path, message: `is nested more than ${maxDepth} levels deep` }],
  );
}
