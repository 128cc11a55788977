import {
  type Attr,
  type CharacterData,
  DOMParser,
  type Document,
  type Element,
  type Node as XmlNode,
  type ProcessingInstruction,
  XMLSerializer,
} from '@xmldom/xmldom';

/**
 * SVG upload sanitiser. Policy: an SVG containing anything dangerous is rejected, never silently
 * repaired; a clean SVG is re-serialised with comments and processing instructions dropped and
 * CDATA sections turned into (escaped) text. The checks do not rely on the CSP the images are
 * later served with.
 */
export type SvgRejection =
  | 'malformed' // not well-formed XML, not an <svg> root, empty
  | 'doctype' // any DOCTYPE / ENTITY declaration (XXE, billion laughs)
  | 'script' // <script> element anywhere (any namespace prefix / case)
  | 'event_handler' // any attribute whose local name starts with "on" (case-insensitive)
  | 'foreign_object' // <foreignObject>
  | 'external_reference' // href / xlink:href / src not starting with "#"; url(...) not "#..."; @import; javascript: or data: URLs
  | 'disallowed_element' // anything outside the allow-list
  | 'too_complex' // more elements and attributes than MAX_SVG_MARKUP
  | 'too_many_uses'; // more than MAX_SVG_DRAWN elements drawn once <use> references are followed

export class SvgRejectedError extends Error {
  override name = 'SvgRejectedError';

  constructor(
    readonly reason: SvgRejection,
    readonly detail: string,
  ) {
    super(`SVG rejected (${reason}): ${detail}`);
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const XLINK_NS = 'http://www.w3.org/1999/xlink';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/**
 * More elements and attributes than this is refused before parsing: the tree is held whole, some
 * 3 KB and 10 µs an element, so 3.9 million <g/> (15.6 MB, under MAX_UPLOAD_BYTES) took the
 * process to 4.2 GB, its heap's limit, and (checked on the event loop then, in a worker thread
 * now: see svg-sanitize.ts) every other request waited 41 s. A detailed illustration has a few
 * tens of thousands.
 */
export const MAX_SVG_MARKUP = 100_000;

/**
 * More elements than this drawn once every `<use>` is followed (each draws its target's subtree
 * again) is refused: ten nested groups of ten `<use>` each of the one before are a 1.8 KB file
 * drawing 10^8 elements, which librsvg gave up on (at its own limit, 500,000 referenced elements)
 * after 4 s of a processing slot's CPU, answered as a corrupt file. The same limit as librsvg's,
 * counted here before any rendering; an SVG within it renders as it did.
 */
export const MAX_SVG_DRAWN = 500_000;

/** Deeper nesting than this is rejected as malformed (browsers' XML parsers give up around here). */
const MAX_DEPTH = 256;

/**
 * Static SVG 1.1 graphics. Deliberately absent: script, foreignObject, image and feImage (they
 * load content; an `<image>` limited to `#...` would be useless), animation elements (animate,
 * set, ... can rewrite href to javascript:), font / cursor / color-profile elements, iframe,
 * video, audio and anything outside the SVG namespace.
 */
const ALLOWED_ELEMENTS: ReadonlySet<string> = new Set([
  'svg',
  'g',
  'defs',
  'title',
  'desc',
  'metadata',
  'symbol',
  'use',
  'path',
  'rect',
  'circle',
  'ellipse',
  'line',
  'polyline',
  'polygon',
  'text',
  'tspan',
  'textPath',
  'linearGradient',
  'radialGradient',
  'stop',
  'pattern',
  'clipPath',
  'mask',
  'marker',
  'filter',
  'feBlend',
  'feColorMatrix',
  'feComponentTransfer',
  'feComposite',
  'feConvolveMatrix',
  'feDiffuseLighting',
  'feDisplacementMap',
  'feDistantLight',
  'feDropShadow',
  'feFlood',
  'feFuncA',
  'feFuncB',
  'feFuncG',
  'feFuncR',
  'feGaussianBlur',
  'feMerge',
  'feMergeNode',
  'feMorphology',
  'feOffset',
  'fePointLight',
  'feSpecularLighting',
  'feSpotLight',
  'feTile',
  'feTurbulence',
  'style',
  'a',
  'switch',
]);

/** Attribute local names that hold a URL which must stay inside the document. */
const URL_ATTRIBUTES: ReadonlySet<string> = new Set(['href', 'src']);
/** Attribute local names rejected outright: xml:base re-bases "#..." references, ping beacons. */
const FORBIDDEN_URL_ATTRIBUTES: ReadonlySet<string> = new Set(['base', 'ping']);

const ATTRIBUTE_NAME = /^[a-zA-Z][a-zA-Z0-9_:.-]*$/;
/** Anything outside the XML 1.0 Char production (also catches lone surrogates via the u flag). */
const NON_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const DTD_MARKUP = /<!\s*(?:doctype|entity|element|attlist|notation)/i;
/** CSS functions (besides url()) that can fetch or that have no business in a product image. */
const FETCHING_CSS_FUNCTION =
  /(?:^|[^a-z0-9_])(?:image-set|image|cross-fade|element|src|attr|expression)\(/;
/** Substrings of a compacted, lower-cased value that mean an executable or inline-document URL. */
const FORBIDDEN_SCHEMES = ['script:', 'data:'];

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;

function reject(reason: SvgRejection, detail: string): never {
  throw new SvgRejectedError(reason, detail);
}

/** How many characters `compact` turns back into a string at once (a call's arguments). */
const COMPACT_CHUNK = 8192;

/**
 * Lower-cases and drops ASCII whitespace and C0/C1 control characters (`java\tscript:`). The kept
 * characters are copied into one array, then made a string a chunk at a time: a string built by
 * concatenating the pieces between the dropped ones held a rope of one piece per gap (some 32
 * bytes each), and a regular expression's replace an entry per match, so that one 15 MiB path of
 * `l1 2 ` (6 million gaps) took 600 MiB and was refused as too complex.
 */
function compact(value: string): string {
  const kept = new Uint16Array(value.length);
  let length = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x20 && (c < 0x7f || c > 0x9f)) kept[length++] = c;
  }
  const chunks: string[] = [];
  for (let start = 0; start < length; start += COMPACT_CHUNK) {
    const end = Math.min(length, start + COMPACT_CHUNK);
    chunks.push(String.fromCharCode(...kept.subarray(start, end)));
  }
  return chunks.join('').toLowerCase();
}

/** Removes CSS comments in linear time; an unterminated comment runs to the end. */
function stripCssComments(css: string): string {
  let out = '';
  let pos = 0;
  for (;;) {
    const open = css.indexOf('/*', pos);
    if (open < 0) return out + css.slice(pos);
    out += css.slice(pos, open);
    const close = css.indexOf('*/', open + 2);
    if (close < 0) return out;
    pos = close + 2;
  }
}

/** Every `url(` must be followed (after optional quotes) by `#`. `text` is compacted already. */
function checkUrlFunctions(text: string, where: string): void {
  for (let i = text.indexOf('url('); i >= 0; i = text.indexOf('url(', i + 4)) {
    let j = i + 4;
    while (text[j] === '"' || text[j] === "'") j++;
    if (text[j] !== '#')
      reject('external_reference', `${where}: url() to something other than #id`);
  }
}

/**
 * Checks text that a browser may interpret as CSS: the `<style>` element and every attribute value
 * (presentation attributes such as fill or mask are CSS values too). Both the text with and without
 * comments are checked, so comments can neither hide nor fake anything.
 */
function checkCssLike(value: string, where: string): void {
  if (value.includes('\\')) {
    reject('external_reference', `${where}: backslash escapes are not allowed`);
  }
  const withComments = compact(value);
  for (const text of [withComments, stripCssComments(withComments)]) {
    for (const scheme of FORBIDDEN_SCHEMES) {
      if (text.includes(scheme)) reject('external_reference', `${where}: ${scheme} URL`);
    }
    if (text.includes('@import')) reject('external_reference', `${where}: @import`);
    checkUrlFunctions(text, where);
    if (FETCHING_CSS_FUNCTION.test(text)) {
      reject('external_reference', `${where}: CSS function that may load resources`);
    }
  }
}

function checkXmlChars(value: string, where: string): void {
  if (NON_XML_CHAR.test(value)) reject('malformed', `${where}: character not allowed in XML`);
}

/** Trims like the URL parser: only ASCII whitespace / C0 controls (not NBSP etc., unlike trim()). */
function trimUrl(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && value.charCodeAt(start) <= 0x20) start++;
  while (end > start && value.charCodeAt(end - 1) <= 0x20) end--;
  return value.slice(start, end);
}

function checkAttribute(attr: Attr, elementName: string): void {
  const name = attr.name;
  const localName = (attr.localName ?? name).toLowerCase();
  const where = `<${elementName} ${name}>`;
  if (localName.startsWith('on')) reject('event_handler', where);
  if (!ATTRIBUTE_NAME.test(name)) reject('disallowed_element', `${where}: attribute name`);
  const value = attr.value;
  checkXmlChars(value, where);
  if (FORBIDDEN_URL_ATTRIBUTES.has(localName)) reject('external_reference', where);
  if (URL_ATTRIBUTES.has(localName) && !trimUrl(value).startsWith('#')) {
    reject('external_reference', `${where}: only #fragment references are allowed`);
  }
  checkCssLike(value, where);
}

function checkElement(el: Element): void {
  const name = el.nodeName;
  const localName = el.localName ?? name;
  const lower = localName.toLowerCase();
  if (lower === 'script') reject('script', `<${name}>`);
  if (lower === 'foreignobject') reject('foreign_object', `<${name}>`);
  for (const attr of Array.from(el.attributes)) checkAttribute(attr, name);
  if (el.namespaceURI !== SVG_NS || !ALLOWED_ELEMENTS.has(localName)) {
    reject('disallowed_element', `<${name}> (namespace ${el.namespaceURI ?? 'none'})`);
  }
  if (localName === 'style') {
    let css = '';
    for (let child = el.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === TEXT_NODE || child.nodeType === CDATA_SECTION_NODE) {
        css += (child as CharacterData).data;
      } else if (child.nodeType !== COMMENT_NODE) {
        reject('disallowed_element', `<${name}> may only contain CSS text`);
      }
    }
    checkCssLike(css, `<${name}>`);
  }
}

function parse(text: string): Document {
  let firstProblem: string | undefined;
  try {
    return new DOMParser({
      onError: (level, message) => {
        firstProblem ??= `${level}: ${message.split('\n', 1)[0]}`;
        throw new SvgRejectedError('malformed', firstProblem);
      },
    }).parseFromString(text, 'application/xml');
  } catch (error: unknown) {
    const detail = firstProblem ?? (error instanceof Error ? error.message : 'unparseable');
    return reject('malformed', detail.slice(0, 300));
  }
}

/**
 * Validates the tree, throwing on anything dangerous. The tree is not changed: what goes (comments,
 * PIs) and what becomes text (CDATA) is left to the serialiser's filter (see `cleanNode`).
 */
function checkDocument(doc: Document): Element {
  for (let node = doc.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === PROCESSING_INSTRUCTION_NODE) {
      checkProcessingInstruction(node as ProcessingInstruction);
    } else if (![ELEMENT_NODE, COMMENT_NODE, TEXT_NODE].includes(node.nodeType)) {
      // DocumentType (10), EntityReference (5) and the like; DTDs are also refused before parsing.
      reject('doctype', `unexpected top-level node type ${node.nodeType}`);
    }
  }
  const root = doc.documentElement;
  // Its prefix, if any, is the author's (<s:svg xmlns:s="...">): the namespace is what counts.
  if (!root || root.localName !== 'svg' || root.namespaceURI !== SVG_NS) {
    reject('malformed', `root element must be <svg xmlns="${SVG_NS}">`);
  }
  const stack: { node: XmlNode; depth: number }[] = [{ node: root, depth: 1 }];
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const { node, depth } = entry;
    switch (node.nodeType) {
      case ELEMENT_NODE:
        if (depth > MAX_DEPTH) reject('malformed', `elements nested deeper than ${MAX_DEPTH}`);
        checkElement(node as Element);
        for (let child = node.lastChild; child; child = child.previousSibling) {
          stack.push({ node: child, depth: depth + 1 });
        }
        break;
      case TEXT_NODE:
        checkXmlChars((node as CharacterData).data, 'text');
        break;
      case CDATA_SECTION_NODE:
        checkXmlChars((node as CharacterData).data, 'CDATA');
        break;
      case COMMENT_NODE:
        break;
      case PROCESSING_INSTRUCTION_NODE:
        checkProcessingInstruction(node as ProcessingInstruction);
        break;
      default:
        reject('doctype', `unexpected node type ${node.nodeType}`);
    }
  }
  return root;
}

/** The `#id` a `<use>` refers to (href, or xlink:href where href is absent), as SVG 2 reads it. */
function useTarget(el: Element): string | undefined {
  const href = el.getAttribute('href') ?? el.getAttributeNS(XLINK_NS, 'href');
  const trimmed = href === null ? '' : trimUrl(href);
  return trimmed.startsWith('#') ? trimmed.slice(1) : undefined;
}

/**
 * Refuses an SVG drawing more than MAX_SVG_DRAWN elements once its `<use>` references are
 * followed, and one with a `<use>` of itself or an ancestor (a cycle: an error in SVG 2). Each
 * element counts once for itself, its children's counts (but a `<defs>`: its content is drawn
 * where it is referred to), and for a `<use>` its target's count;
 * counted once per element (memoised) and without recursion (a chain of 100,000 `<use>` each of
 * the one before is valid XML of depth 2), the count saturating past the limit. Linear in the
 * elements.
 */
function checkUseFanOut(root: Element): void {
  const byId = new Map<string, Element>();
  const all: Element[] = [];
  const walk: Element[] = [root];
  for (let el = walk.pop(); el; el = walk.pop()) {
    all.push(el);
    const id = el.getAttribute('id');
    // The first element of an id is the one references find.
    if (id !== null && id !== '' && !byId.has(id)) byId.set(id, el);
    for (let child = el.lastChild; child; child = child.previousSibling) {
      if (child.nodeType === ELEMENT_NODE) walk.push(child as Element);
    }
  }
  const drawn = new Map<Element, number>();
  const open = new Set<Element>();
  const dependencies = (el: Element): Element[] => {
    const found: Element[] = [];
    const name = el.localName ?? el.nodeName;
    // What <defs> holds is drawn only where something refers to it.
    for (let child = name === 'defs' ? null : el.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === ELEMENT_NODE) found.push(child as Element);
    }
    const target = name === 'use' ? useTarget(el) : undefined;
    const referenced = target === undefined ? undefined : byId.get(target);
    if (referenced) found.push(referenced);
    return found;
  };
  for (const start of all) {
    if (drawn.has(start)) continue;
    // Each frame's `next`: its first dependency not yet looked at (each looked at once).
    const stack = [{ el: start, deps: dependencies(start), next: 0 }];
    open.add(start);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next < top.deps.length) {
        const dep = top.deps[top.next++];
        if (drawn.has(dep)) continue;
        // A <use> of itself or an ancestor: a cycle, an error in SVG 2 (librsvg leaves that <use>
        // undrawn, but a count made around it would be memoised short for the elements on it).
        if (open.has(dep)) reject('malformed', '<use> that refers to itself or an ancestor');
        open.add(dep);
        stack.push({ el: dep, deps: dependencies(dep), next: 0 });
        continue;
      }
      let count = 1;
      for (const dep of top.deps)
        count = Math.min(count + (drawn.get(dep) ?? 0), MAX_SVG_DRAWN + 1);
      if (count > MAX_SVG_DRAWN) {
        reject('too_many_uses', `more than ${MAX_SVG_DRAWN} elements drawn through <use>`);
      }
      drawn.set(top.el, count);
      open.delete(top.el);
      stack.pop();
    }
  }
}

function checkProcessingInstruction(node: ProcessingInstruction): void {
  if (node.target.toLowerCase() === 'xml-stylesheet') {
    reject('external_reference', '<?xml-stylesheet?>');
  }
}

/**
 * The serialiser's filter: comments and PIs are left out, and CDATA sections are written as
 * (escaped) text, with CR normalised to LF as a parser would read it back, like a text's literal
 * CR. Removing or replacing them in the tree instead cost a reindex of the parent's children
 * each (xmldom), quadratic: 500,000 comments, 3.5 MB, held the event loop for minutes.
 */
function cleanNode(doc: Document): {
  filter: (node: XmlNode) => XmlNode | null;
  left: () => boolean;
} {
  let leftOut = false;
  const filter = (node: XmlNode): XmlNode | null => {
    switch (node.nodeType) {
      case COMMENT_NODE:
      case PROCESSING_INSTRUCTION_NODE:
        leftOut = true;
        return null;
      case CDATA_SECTION_NODE:
        return doc.createTextNode((node as CharacterData).data.replace(/\r\n?/g, '\n'));
      case TEXT_NODE: {
        const { data } = node as CharacterData;
        return data.includes('\r') ? doc.createTextNode(data.replace(/\r\n?/g, '\n')) : node;
      }
      default:
        return node;
    }
  };
  return { filter, left: () => leftOut };
}

/**
 * A copy of `el` (checked) with every element in the SVG namespace as the default one, unprefixed:
 * `<s:svg xmlns:s="...">` is valid SVG, which some tools write, but libvips (which looks for
 * `<svg` in the first bytes) does not recognise it as SVG, nor do some viewers. Comments and
 * processing instructions are left out, CDATA written as text, as the serialiser's filter does
 * (see `cleanNode`). Namespace declarations of the SVG namespace and default ones go (the root
 * declares the default); others stay, as the serialiser adds any an attribute's prefix needs.
 * Recursive, to MAX_DEPTH at most (checked).
 */
function unprefixed(doc: Document, el: Element, root = true): Element {
  const out = doc.createElementNS(SVG_NS, el.localName ?? el.nodeName);
  if (root) out.setAttributeNS(XMLNS_NS, 'xmlns', SVG_NS);
  for (const attr of Array.from(el.attributes)) {
    const declaration = attr.namespaceURI === XMLNS_NS;
    if (declaration && (attr.name === 'xmlns' || attr.value === SVG_NS)) continue;
    out.setAttributeNS(attr.namespaceURI, attr.name, attr.value);
  }
  for (let child = el.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === ELEMENT_NODE) out.appendChild(unprefixed(doc, child as Element, false));
    if (child.nodeType === TEXT_NODE || child.nodeType === CDATA_SECTION_NODE) {
      const text = (child as CharacterData).data.replace(/\r\n?/g, '\n');
      out.appendChild(doc.createTextNode(text));
    }
  }
  return out;
}

function serialise(node: XmlNode, nodeFilter?: (node: XmlNode) => XmlNode | null): string {
  try {
    return new XMLSerializer().serializeToString(node, { requireWellFormed: true, nodeFilter });
  } catch (error: unknown) {
    return reject('malformed', error instanceof Error ? error.message : 'cannot serialise');
  }
}

function sanitizeText(text: string): string {
  if (DTD_MARKUP.test(text)) reject('doctype', 'DOCTYPE or DTD declarations are not allowed');
  checkXmlChars(text, 'input');
  if (text.trim() === '') reject('malformed', 'empty');
  const doc = parse(text);
  const clean = cleanNode(doc);
  const root = checkDocument(doc);
  checkUseFanOut(root);
  // A prefixed root (<s:svg>) is written unprefixed, once: the output's root never is.
  if (root.prefix)
    return `<?xml version="1.0" encoding="UTF-8"?>\n${serialise(unprefixed(doc, root))}`;
  let serialised = serialise(root, clean.filter);
  // An element whose only children were left out is written <g></g>: written again from a parse
  // of its own, it is <g/>, as the stability check below reads it back.
  if (clean.left()) serialised = serialise(parse(serialised).documentElement as Element);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${serialised}`;
}

/** Encodings an SVG's XML declaration may name that are read as declared; any other is UTF-8. */
const DECLARABLE = new Set(['utf-8', 'us-ascii', 'iso-8859-1', 'latin1', 'windows-1252']);
/** The encoding an XML declaration names, read from its first bytes as Latin-1. */
const DECLARED = /^<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']/;
/** One byte, one character: enough to read an XML declaration, which is ASCII. */
const latin1 = new TextDecoder('latin1');

/**
 * How an SVG's bytes are to be read, as XML says (its section 4.3.3 and appendix F): by its byte
 * order mark (UTF-8, UTF-16 in either order), else by its XML declaration's `encoding` when that
 * is ISO-8859-1 (read as windows-1252, as browsers do), windows-1252 or US-ASCII, else as UTF-8.
 * Editors save SVG in those; before, one in Latin-1 was refused as unsafe ("not valid UTF-8")
 * and one in UTF-16 was not recognised as an SVG. The result is always written as UTF-8. Pure.
 */
export function svgEncoding(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  const head = latin1.decode(bytes.subarray(0, 256));
  const declared = DECLARED.exec(head)?.[1].toLowerCase();
  return declared && DECLARABLE.has(declared) ? declared : 'utf-8';
}

/**
 * An upper bound of the elements and attributes of a text, counted before it is parsed: each
 * start tag opens with '<' (not '</') and each attribute has its '='; comments, text and CDATA
 * holding either only count more.
 */
function markupCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x3d || (code === 0x3c && text.charCodeAt(i + 1) !== 0x2f)) count++;
  }
  return count;
}

/** Returns the sanitised SVG (UTF-8) or throws SvgRejectedError. Input at most a few MB. */
export function sanitizeSvg(input: Buffer): Buffer {
  if (!(input instanceof Uint8Array)) reject('malformed', 'input is not a buffer');
  if (input.length === 0) reject('malformed', 'empty');
  const encoding = svgEncoding(input);
  let text: string;
  try {
    // Strips a leading BOM.
    text = new TextDecoder(encoding, { fatal: true, ignoreBOM: false }).decode(input);
  } catch {
    return reject('malformed', `not valid ${encoding === 'utf-8' ? 'UTF-8' : encoding}`);
  }
  if (markupCount(text) > MAX_SVG_MARKUP) {
    reject('too_complex', `more than ${MAX_SVG_MARKUP} elements and attributes`);
  }
  const output = sanitizeText(text);
  // Defence in depth: the output must itself be accepted, unchanged (no serialiser surprises).
  if (sanitizeText(output) !== output) reject('malformed', 'serialisation is not stable');
  return Buffer.from(output, 'utf8');
}
