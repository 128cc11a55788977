import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { MediaAnswer } from './media-answer';
import { answerMediaRequest } from './media-delivery';

const KEY =
  'products/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e/00000000-0000-4000-8000-000000000001/original.png';
const BYTES = Buffer.alloc(4096, 7);

/** What a client would get of the answer: the whole file, or a 404; anything else is a 500. */
async function outcome(answering: Promise<MediaAnswer>): Promise<string> {
  let answer: MediaAnswer;
  try {
    answer = await answering;
  } catch (error) {
    return `thrown ${String((error as NodeJS.ErrnoException).code ?? error)}`;
  }
  if (answer.kind !== 'file') return answer.kind;
  const body = answer.body as Readable;
  return new Promise((resolve) => {
    let length = 0;
    body.on('data', (chunk: Buffer) => (length += chunk.length));
    body.on('error', (error: NodeJS.ErrnoException) => resolve(`body failed ${error.code}`));
    body.on('end', () => resolve(length === BYTES.length ? 'whole file' : `${length} bytes`));
  });
}

describe(answerMediaRequest.name, () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pis-media-'));
    mkdirSync(dirname(join(root, KEY)), { recursive: true });
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('answers a file deleted while it is looked up 404 or whole, never a failing body', async () => {
    // The deletion lands at every point of the lookup: before send's stat, between it and the
    // symlink check, between that and the open, after the open.
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      writeFileSync(join(root, KEY), BYTES);
      const answering = outcome(answerMediaRequest(root, KEY, { method: 'GET', headers: {} }));
      for (let turn = 0; turn < i % 5; turn++) await nextTurn();
      await unlink(join(root, KEY));
      seen.add(await answering);
    }
    expect([...seen].filter((o) => o !== 'whole file' && o !== 'not_found')).toEqual([]);
  });
});

describe(`${answerMediaRequest.name}: validators`, () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pis-media-'));
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** Writes `bytes` at `key`, last modified at `mtime`. */
  function place(key: string, bytes: Buffer, mtime = new Date('2026-01-02T03:04:05.678Z')): void {
    mkdirSync(dirname(join(root, key)), { recursive: true });
    writeFileSync(join(root, key), bytes);
    utimesSync(join(root, key), mtime, mtime);
  }

  const get = (key: string, headers: Record<string, string> = {}) =>
    answerMediaRequest(root, key, { method: 'GET', headers });

  /** Status and ETag of an answer; its body, if any, let go. */
  async function statusOf(answering: Promise<MediaAnswer>): Promise<[string | number, unknown]> {
    const answer = await answering;
    if (answer.kind !== 'file') return [answer.kind, undefined];
    answer.body?.destroy();
    return [answer.status, answer.headers.ETag];
  }

  it('ignores an If-Modified-Since later than now (RFC 9110 13.1.3): the file, not 304', async () => {
    place(KEY, BYTES);
    const first = await get(KEY);
    const lastModified = String(
      (first as { headers: Record<string, unknown> }).headers['Last-Modified'],
    );
    (first as { body?: Readable }).body?.destroy();
    // The file's own date, or one since: its copy is current.
    expect((await statusOf(get(KEY, { 'if-modified-since': lastModified })))[0]).toBe(304);
    const past = new Date(Date.now() - 60_000).toUTCString();
    expect((await statusOf(get(KEY, { 'if-modified-since': past })))[0]).toBe(304);
    // A date the server has not reached yet is no date the client could have been given.
    for (const ahead of [120_000, 365 * 24 * 3600_000]) {
      const future = new Date(Date.now() + ahead).toUTCString();
      expect(await outcome(get(KEY, { 'if-modified-since': future }))).toBe('whole file');
    }
  });

  it('gives each format of one result its own ETag, even of the same size and time', async () => {
    // Results of one transform URL in two formats (Accept decides which it serves), of the same
    // length and written in the same millisecond.
    const webp = 'derived/42/320x240-fit-q80.webp';
    const avif = 'derived/42/320x240-fit-q80.avif';
    place(webp, Buffer.alloc(2048, 1));
    place(avif, Buffer.alloc(2048, 2));
    const [, webpTag] = await statusOf(get(webp));
    const [, avifTag] = await statusOf(get(avif));
    expect(webpTag).toMatch(/^"[^"]+"$/);
    expect(avifTag).toMatch(/^"[^"]+"$/);
    expect(avifTag).not.toBe(webpTag);
    const other = String(webpTag);
    const own = String(avifTag);
    // A client holding the WebP asks the URL again and is given AVIF: the bytes, not a 304.
    expect(await statusOf(get(avif, { 'if-none-match': other }))).toEqual([200, own]);
    expect(await statusOf(get(avif, { 'if-none-match': `W/${other}` }))).toEqual([200, own]);
    // Asked twice within the second (the validators kept): the same.
    expect(await statusOf(get(avif, { 'if-none-match': other }))).toEqual([200, own]);
    // Its own ETag, alone, weak or in a list, is current.
    for (const tag of [own, `W/${own}`, `${other}, ${own}`, '*']) {
      expect(await statusOf(get(avif, { 'if-none-match': tag }))).toEqual([304, own]);
    }
    // If-Match compares strongly: the other format's tag fails, its own holds.
    expect(await statusOf(get(avif, { 'if-match': other }))).toEqual([
      'precondition_failed',
      undefined,
    ]);
    expect(await statusOf(get(avif, { 'if-match': `${other}, ${own}` }))).toEqual([200, own]);
    // If-Range: the range only for its own ETag.
    const ranged = (tag: string) => get(avif, { range: 'bytes=0-9', 'if-range': tag });
    expect(await statusOf(ranged(own))).toEqual([206, own]);
    expect(await statusOf(ranged(other))).toEqual([200, own]);
  });
});
