import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { noiseBytes } from '../../../../test/support/fixtures';
import { AppError } from '../../../common/errors/app.error';
import { RequestSpool } from '../upload-spool';
import { dataUriBodyParsing } from './data-uri-body.parser';
import { takeSpooledDataUri } from './spooled-data-uris';

const MAX_BYTES = 64 * 1024;
const JSON_LIMIT = 4 * 1024;
const BODY_LIMIT = 100 * 1024;

describe(dataUriBodyParsing.name, () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'data-uri-body-'))));
  afterEach(async () => {
    // A refused body's extractor may still be in spool.create()'s mkdir when the refusal arrives
    // (it then opens no file): let it finish, or it makes the folder again after it is removed
    // (the run's leftover check found one on a busy machine).
    await new Promise((resolve) => setTimeout(resolve, 200));
    rmSync(dir, { recursive: true, force: true });
  });

  const hook = () =>
    dataUriBodyParsing({ tmpDir: dir, maxBytes: MAX_BYTES, jsonLimit: JSON_LIMIT });

  /** Runs a body through the hook in chunks of `size` bytes; resolves with what comes out. */
  async function parse(body: string | Buffer, size = 64 * 1024, chunked = false) {
    const bytes = Buffer.from(body);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
    const length = chunked ? {} : { 'content-length': String(bytes.length) };
    const request = {
      headers: { 'content-type': 'application/json', ...length },
      routeOptions: { bodyLimit: BODY_LIMIT },
      raw: {},
    } as unknown as FastifyRequest;
    const response = new EventEmitter();
    const reply = { raw: response } as unknown as FastifyReply;
    const out = await hook()(request, reply, Readable.from(chunks));
    const result = await text(out);
    return {
      result,
      received: (out as Readable & { receivedEncodedLength: number }).receivedEncodedLength,
      spool: RequestSpool.of(request),
      endResponse: () => response.emit('close'),
    };
  }

  async function refusal(body: string | Buffer, size?: number, chunked?: boolean) {
    const error = await parse(body, size, chunked).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    // Nothing written is left behind by a refused body.
    await new Promise((resolve) => setImmediate(resolve));
    expect(readdirSync(dir)).toEqual([]);
    return error as AppError;
  }

  const image = noiseBytes(40_000, 7);
  const dataUri = `data:image/png;base64,${image.toString('base64')}`;

  it.each([1, 7, 256, 4096, 65536])(
    'decodes the image into a file, in chunks of %i bytes, and leaves the rest of the body alone',
    async (size) => {
      const body = JSON.stringify({
        before: 'a\u0000b',
        image: dataUri,
        after: [1, { image: 'x' }],
      });
      const { result, received, spool } = await parse(body, size);
      expect(received).toBe(Buffer.byteLength(body));
      const parsed = JSON.parse(result) as Record<string, unknown>;
      expect(parsed).toEqual({
        before: 'a\u0000b',
        image: expect.stringMatching(/^urn:spooled-data-uri:[0-9a-f-]{36}$/),
        after: [1, { image: 'x' }],
      });
      const spooled = takeSpooledDataUri(parsed.image as string)!;
      expect(spooled.declaredType).toBe('image/png');
      expect(readFileSync(spooled.path).equals(image)).toBe(true);
      // A token is handed over once.
      expect(takeSpooledDataUri(parsed.image as string)).toBeUndefined();
      await spool.release();
      expect(readdirSync(dir)).toEqual([]);
    },
  );

  it('reads escaped and line-wrapped base64, and an upper-case header', async () => {
    const b64 = image.toString('base64');
    const wrapped = b64.replace(/(.{76})/g, '$1\n').replace(/\//g, '\\/');
    const body = `{"image": "DATA:Image/JPG;base64,${wrapped.replace(/\n/g, '\\n')}"}`;
    const { result, spool } = await parse(body, 1000);
    const spooled = takeSpooledDataUri((JSON.parse(result) as { image: string }).image)!;
    expect(spooled.declaredType).toBe('image/jpeg');
    expect(readFileSync(spooled.path).equals(image)).toBe(true);
    await spool.release();
  });

  it('passes a URL, a short string and any other body through unchanged, writing nothing', async () => {
    for (const body of [
      { image: 'https://images.example.com/a.jpg' },
      { image: 'dat' },
      { image: 42 },
      { image: { url: 'data:image/png;base64,AAAA' } },
      {},
      ['data:image/png;base64,AAAA'],
      'data:image/png;base64,AAAA',
    ]) {
      const { result } = await parse(JSON.stringify(body), 3);
      expect(JSON.parse(result)).toEqual(body);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes the file, and forgets the token, when the request ends without taking it', async () => {
    const { result, endResponse } = await parse(JSON.stringify({ image: dataUri }));
    const token = (JSON.parse(result) as { image: string }).image;
    expect(readdirSync(dir)).toHaveLength(1);
    endResponse();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readdirSync(dir)).toEqual([]);
    expect(takeSpooledDataUri(token)).toBeUndefined();
  });

  it.each([
    ['no comma', '{"image": "data:image/png;base64"}'],
    ['not an image type', '{"image": "data:text/plain;base64,aGVsbG8="}'],
    ['no base64 marker', '{"image": "data:image/png,rawbytes"}'],
    ['a bad character', '{"image": "data:image/png;base64,abc*"}'],
    ['a bad length', '{"image": "data:image/png;base64,abcde"}'],
    ['padding in the middle', `{"image": "data:image/png;base64,ab==${'A'.repeat(5000)}"}`],
    ['a header that never ends', `{"image": "data:image/png;${'x'.repeat(2000)}"}`],
  ])('refuses a data URI with %s: 400 invalid_data_uri', async (_, body) => {
    const error = await refusal(body, 100);
    expect(error.code).toBe('invalid_data_uri');
    expect(error.errors).toEqual([{ field: 'image', message: expect.any(String) }]);
  });

  it('refuses an image over the limit as soon as it is: 413 file_too_large', async () => {
    const big = noiseBytes(MAX_BYTES + 1, 3).toString('base64');
    const error = await refusal(`{"image": "data:image/png;base64,${big}"}`);
    expect(error.code).toBe('file_too_large');
  });

  it('refuses more JSON around the image than JSON_BODY_LIMIT_BYTES: 413', async () => {
    const body = JSON.stringify({ image: dataUri, x: 'y'.repeat(JSON_LIMIT) });
    expect((await refusal(body)).code).toBe('payload_too_large');
  });

  it('refuses a body over the route limit even when it decodes to little (whitespace)', async () => {
    const body = `{"image": "data:image/png;base64,AAAA${' '.repeat(BODY_LIMIT)}"}`;
    // Chunked: no Content-Length to refuse it by before it is read.
    expect((await refusal(body, undefined, true)).code).toBe('payload_too_large');
  });

  it('refuses malformed JSON, and a second image', async () => {
    expect((await refusal(`{"image": "${dataUri.slice(0, 5000)}`)).code).toBe('malformed_json');
    expect((await refusal('{"image": }')).code).toBe('malformed_json');
    const small = `data:image/png;base64,${image.subarray(0, 3000).toString('base64')}`;
    const twice = await refusal(`{"image": "${small}", "image": "${small}"}`);
    expect(twice).toMatchObject({ code: 'validation_failed', errors: [{ field: 'image' }] });
  });

  it.each([1, 2, 65536])(
    'refuses bytes that are not UTF-8 anywhere in the body (400 malformed_json), in chunks of %i',
    async (size) => {
      const [head, tail] = ['{"image": "data:image/png;name=caf', `;base64,${dataUri.slice(22)}"}`];
      // Windows-1252 "é" in the data URI; a stray continuation byte in a key after it; UTF-8's
      // "é" cut short by the quote; a character cut short by the end of the body.
      for (const body of [
        Buffer.concat([Buffer.from(head), Buffer.from([0xe9]), Buffer.from(tail)]),
        Buffer.concat([Buffer.from(`{"image": "${dataUri}", "x`), Buffer.from([0x80, 0x22, 0x7d])]),
        Buffer.concat([Buffer.from('{"title": "caf'), Buffer.from([0xc3, 0x22, 0x7d])]),
        Buffer.concat([Buffer.from(`{"image": "${dataUri}"} `), Buffer.from([0xf0, 0x9f])]),
      ]) {
        const refused = await refusal(body, size);
        expect(refused).toMatchObject({ code: 'malformed_json' });
        expect(refused.message).toMatch(/not valid UTF-8/);
      }
    },
  );

  it('takes characters whose bytes arrive in different chunks', async () => {
    const body = JSON.stringify({ title: 'Crème brûlée 🍮', image: dataUri });
    const { result, spool } = await parse(body, 1);
    expect(JSON.parse(result)).toMatchObject({ title: 'Crème brûlée 🍮' });
    await spool.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("reports a spool folder it cannot write as the service's condition (503), not the client's", async () => {
    const notADirectory = join(dir, 'file');
    writeFileSync(notADirectory, '');
    const request = {
      headers: { 'content-type': 'application/json' },
      routeOptions: { bodyLimit: BODY_LIMIT },
      raw: {},
    } as unknown as FastifyRequest;
    const reply = { raw: new EventEmitter() } as unknown as FastifyReply;
    const parse = dataUriBodyParsing({
      tmpDir: join(notADirectory, 'spool'),
      maxBytes: MAX_BYTES,
      jsonLimit: JSON_LIMIT,
    });
    const out = await parse(
      request,
      reply,
      Readable.from([Buffer.from(`{"image": "${dataUri}"}`)]),
    );
    const error = await text(out).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'upload_spool_unavailable' });
  });

  it('leaves a body that is not JSON, or announced over the limit, to Fastify', async () => {
    const payload = Readable.from([Buffer.from('{}')]);
    const request = (headers: Record<string, string>) =>
      ({ headers, routeOptions: { bodyLimit: BODY_LIMIT }, raw: {} }) as unknown as FastifyRequest;
    const reply = { raw: new EventEmitter() } as unknown as FastifyReply;
    const other = request({ 'content-type': 'text/plain' });
    expect(await hook()(other, reply, payload)).toBe(payload);
    const tooBig = request({
      'content-type': 'application/json',
      'content-length': String(BODY_LIMIT + 1),
    });
    expect(await hook()(tooBig, reply, payload)).toBe(payload);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});
