import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import type { Token } from 'stream-json/parser.js';
import { AppError } from '../../../common/errors/app.error';
import type { RequestSpool } from '../upload-spool';
import { DataUriDecoder, isDataUri } from './data-uri';
import { dataUriProblem } from './import-errors';
import { forgetSpooledDataUri, spoolToken } from './spooled-data-uris';

export interface DataUriExtractorOptions {
  /** Where the decoded image is written. */
  tmpDir: string;
  /** The largest image, decoded. */
  maxBytes: number;
  /** The request's spool, which owns the file. */
  spool: RequestSpool;
}

/** Decoded bytes are written in pieces of about this size, not in the parser's small chunks. */
const WRITE_SIZE = 64 * 1024;
/** Enough of a string to tell a data URI (`data:`) from anything else. */
const SNIFF_LENGTH = 5;

/**
 * A stage between a streaming JSON tokenizer (stream-json, strings in chunks) and its stringer:
 * when the body's top-level `image` is a data URI, its chunks are decoded as they come into a
 * file of the request's spool, and the string is replaced by a token that stands for the file
 * (see spooled-data-uris). Every other token passes unchanged, so the body that comes out is the
 * one that came in, less the image: small, and parsed and validated as usual.
 */
export class DataUriExtractor extends Transform {
  /** Nesting: 1 inside the top-level object. */
  private depth = 0;
  private inKey = false;
  /** The current key's first characters, enough to recognise `image`. */
  private key = '';
  private nextIsImage = false;
  private images = 0;
  private mode: 'none' | 'sniff' | 'data' = 'none';
  private sniffed = '';
  private decoder?: DataUriDecoder;
  /** The image's file: being written while `stream` is open, then standing for `token`. */
  private path?: string;
  private stream?: WriteStream;
  private token?: string;
  private discarded = false;
  private batch: Buffer[] = [];
  private batched = 0;

  constructor(private readonly options: DataUriExtractorOptions) {
    super({ objectMode: true });
  }

  override _transform(token: Token, _encoding: BufferEncoding, callback: TransformCallback): void {
    let pending: Promise<void> | void;
    try {
      pending = this.mode === 'none' ? this.pass(token) : this.image(token);
    } catch (error) {
      return callback(dataUriProblem(error) as Error);
    }
    if (!pending) return callback();
    pending.then(
      () => callback(),
      (error: unknown) => callback(dataUriProblem(error) as Error),
    );
  }

  /**
   * Failed: what was written is removed here, where it was written. After a body that parsed,
   * the file is the request's spool's until the request is over.
   */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!error && !this.stream) return callback(error);
    this.discard().then(
      () => callback(error),
      () => callback(error),
    );
  }

  /**
   * Removes the image's file, whether being written or complete, and forgets its token: the body
   * was refused after all, or the request is over. Later writes are refused.
   */
  async discard(): Promise<void> {
    this.discarded = true;
    const { path, stream, token } = this;
    this.path = this.stream = this.token = undefined;
    if (token) forgetSpooledDataUri(token);
    if (stream) await closed(stream);
    if (path) await rm(path, { force: true });
  }

  /** A token outside the image: tracked, and passed on. */
  private pass(token: Token): void {
    switch (token.name) {
      case 'startKey':
        this.inKey = true;
        this.key = '';
        break;
      case 'stringChunk':
        if (this.inKey) this.key = (this.key + token.value).slice(0, SNIFF_LENGTH + 1);
        break;
      case 'endKey':
        this.inKey = false;
        this.nextIsImage = this.depth === 1 && this.key === 'image';
        if (this.nextIsImage && ++this.images > 1) {
          throw new AppError('validation_failed', 'Field "image" was sent more than once.', [
            { field: 'image', message: 'sent more than once' },
          ]);
        }
        break;
      case 'startString':
        if (this.nextIsImage) {
          this.nextIsImage = false;
          this.mode = 'sniff';
          this.sniffed = '';
          return;
        }
        break;
      case 'startObject':
      case 'startArray':
        this.depth++;
        this.nextIsImage = false;
        break;
      case 'endObject':
      case 'endArray':
        this.depth--;
        break;
      default:
        this.nextIsImage = false;
    }
    this.push(token);
  }

  /** A token of the top-level `image` string. */
  private image(token: Token): Promise<void> | void {
    if (token.name === 'stringChunk') {
      if (this.mode === 'data') return this.decode(token.value);
      this.sniffed += token.value;
      if (this.sniffed.length < SNIFF_LENGTH) return;
      if (!isDataUri(this.sniffed)) return this.giveBackString(false);
      this.mode = 'data';
      const text = this.sniffed;
      this.sniffed = '';
      return this.startFile().then(() => this.decode(text));
    }
    // endString: the only other token inside a string.
    if (this.mode === 'sniff') return this.giveBackString(true);
    return this.finishFile();
  }

  /** Not a data URI (a URL): the string passes unchanged, from its start. */
  private giveBackString(ended: boolean): void {
    this.mode = 'none';
    this.push({ name: 'startString' });
    if (this.sniffed) this.push({ name: 'stringChunk', value: this.sniffed });
    if (ended) this.push({ name: 'endString' });
    this.sniffed = '';
  }

  private async startFile(): Promise<void> {
    const { spool, tmpDir, maxBytes } = this.options;
    this.decoder = new DataUriDecoder(maxBytes);
    const path = await spool.create(tmpDir, '.import', () => this.discard());
    this.checkNotDiscarded();
    this.path = path;
    this.stream = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    // Failures surface at the next write or at the end; an 'error' no one listens to would crash.
    this.stream.on('error', () => undefined);
  }

  /** After an await: the request may have ended, or the body failed, in the meantime. */
  private checkNotDiscarded(): void {
    if (this.discarded) throw new Error('The body was refused, or its request is over.');
  }

  private decode(text: string): Promise<void> | void {
    const bytes = this.decoder!.write(text);
    if (bytes.length === 0) return;
    this.batch.push(bytes);
    this.batched += bytes.length;
    if (this.batched >= WRITE_SIZE) return this.flushBatch();
  }

  private async flushBatch(): Promise<void> {
    if (this.batched === 0) return;
    const chunk = Buffer.concat(this.batch, this.batched);
    this.batch = [];
    this.batched = 0;
    const stream = this.stream!;
    if (!stream.write(chunk)) await once(stream, 'drain');
    this.checkNotDiscarded();
  }

  /** The whole image is in the file: the token takes the data URI's place in the body. */
  private async finishFile(): Promise<void> {
    const tail = this.decoder!.end();
    if (tail.length > 0) {
      this.batch.push(tail);
      this.batched += tail.length;
    }
    await this.flushBatch();
    const stream = this.stream!;
    stream.end();
    await closed(stream, false);
    this.checkNotDiscarded();
    this.stream = undefined;
    const token = spoolToken({ path: this.path!, declaredType: this.decoder!.declaredType });
    this.token = token;
    this.mode = 'none';
    this.push({ name: 'startString' });
    this.push({ name: 'stringChunk', value: token });
    this.push({ name: 'endString' });
  }
}

/**
 * Resolves once the file is closed: destroyed first unless `destroy` is false (an end() was
 * asked for). Removing a file before its writer has closed could let a pending open create it
 * again.
 */
function closed(stream: WriteStream, destroy = true): Promise<void> {
  if (stream.closed) return Promise.resolve();
  const done = new Promise<void>((resolve, reject) => {
    stream.once('close', resolve);
    if (!destroy) stream.once('error', reject);
  });
  if (destroy) stream.destroy();
  return done;
}
