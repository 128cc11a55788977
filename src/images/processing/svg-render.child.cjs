'use strict';
/**
 * Renders one sanitised SVG, in a process of its own (see svg-render.ts). librsvg cannot be
 * interrupted and an SVG's cost is not bounded by its size or pixel count (a long line of text,
 * a large blur), so the service renders it where it can be killed: a deadline and a memory
 * ceiling end this process, never the service's.
 *
 * Plain CommonJS, not TypeScript: it is started with `node` alone, from src/ under the tests as
 * from dist/ in production (nest build copies it, see nest-cli.json's assets).
 *
 * In:  argv[2] the most pixels it may render, argv[3] the service's pid; stdin the SVG.
 * Out: stdout the byte 'R' once sharp is loaded (the render's deadline starts there), then a
 *      4-byte big-endian length, the header as JSON (width, height, channels), then,
 *      when width × height is within the limit, the raw pixels (sRGB, row by row). Exit code 0;
 *      any other exit means the SVG could not be rendered (a message on stderr): 3 when librsvg
 *      stopped at its limit of referenced elements (see TOO_MANY_REFERENCES), 4 when the SVG's
 *      size comes to less than a pixel (see UNDER_ONE_PIXEL), 2 otherwise.
 */
// The service going away (killed, crashed) must not leave a render running: checked from the
// start (the service may die before this line runs), against the pid it gave, not the parent found
// here. Not process.exit(): exiting waits for libvips' threads (its exit handler joins them), so
// for the render's end.
const service = Number(process.argv[3]);
const orphaned = () => process.ppid !== service;
if (orphaned()) process.kill(process.pid, 'SIGKILL');
setInterval(() => {
  if (orphaned()) process.kill(process.pid, 'SIGKILL');
}, 500).unref();

/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS script started by node */
const sharp = require('sharp');

const maxPixels = Number(process.argv[2]);
// One thread: the process stands for one processing slot. No cache: it renders one image.
sharp.concurrency(1);
sharp.cache(false);
// Ready: the service's deadline for the render starts now, not with Node's start.
process.stdout.write(Buffer.from('R'));

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (chunk) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

function write(buffer) {
  return new Promise((resolve, reject) => {
    process.stdout.write(buffer, (error) => (error ? reject(error) : resolve()));
  });
}

async function main() {
  const svg = await readStdin();
  const meta = await sharp(svg, { limitInputPixels: false }).metadata();
  if (!meta.width || !meta.height) throw new Error('no dimensions');
  const within = meta.width * meta.height <= maxPixels;
  let pixels;
  let channels = meta.channels;
  if (within) {
    const { data, info } = await sharp(svg, { failOn: 'error', limitInputPixels: maxPixels })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    pixels = data;
    channels = info.channels;
    if (info.width !== meta.width || info.height !== meta.height) throw new Error('size changed');
  }
  const header = Buffer.from(JSON.stringify({ width: meta.width, height: meta.height, channels }));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(header.length);
  await write(Buffer.concat([length, header]));
  if (pixels) await write(pixels);
}

/**
 * librsvg's refusal of an SVG that refers to its elements more than 500,000 times (its
 * MAX_REFERENCED_ELEMENTS: through <use>, and <use> drawn again by a pattern, mask or marker),
 * as libvips passes it on: "SVG rendering failed\nglib: exceeded more than 500000 referenced
 * elements" (librsvg 2.63).
 */
const TOO_MANY_REFERENCES = /exceeded more than \d+ referenced elements/;
/**
 * libvips' refusal of an SVG whose width or height, rounded to whole pixels, is none (under half a
 * pixel: width="0.4", 0.1mm, a viewBox of 0.4 with no size), as sharp passes it on: "Input buffer
 * has corrupt header: svgload_buffer: bad dimensions" (libvips 8.18).
 */
const UNDER_ONE_PIXEL = /svgload\w*: bad dimensions/;

function exitCode(message) {
  if (TOO_MANY_REFERENCES.test(message)) return 3;
  return UNDER_ONE_PIXEL.test(message) ? 4 : 2;
}

main().then(
  () => process.exit(0),
  (error) => {
    const message = String((error && error.message) || error);
    process.stderr.write(message.slice(0, 500));
    process.exit(exitCode(message));
  },
);
