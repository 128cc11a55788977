import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
