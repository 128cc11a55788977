import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import {
  boundaryParameters,
  bytesToTell,
  chooseBoundary,
  peekBody,
  withBoundary,
} from './multipart-boundary';

const WEBKIT = '----WebKitFormBoundary7MA4YWxkTrZu0gW';
const CURL = '------------------------92829df7f7c0509d';
/** What curl sends for Inventorum's printed command: its own boundary appended to the header's. */
const TWO = `multipart/form-data; boundary=${WEBKIT}; boundary=${CURL}`;
const body = (boundary: string) =>
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nproduct\r\n`);

describe(boundaryParameters.name, () => {
  it('lists every boundary parameter in order', () => {
    expect(boundaryParameters(TWO)).toEqual([WEBKIT, CURL]);
  });

  it('unquotes quoted values and reads parameter names in any case', () => {
    expect(boundaryParameters('multipart/form-data; BOUNDARY="a b\\"c"; charset=utf-8')).toEqual([
      'a b"c',
    ]);
  });

  it('finds none in a header without one', () => {
    expect(boundaryParameters('multipart/form-data')).toEqual([]);
    expect(boundaryParameters('application/json; charset=utf-8')).toEqual([]);
  });
});

describe(chooseBoundary.name, () => {
  it('picks the boundary the body starts with, whichever parameter carries it', () => {
    expect(chooseBoundary([WEBKIT, CURL], body(CURL))).toBe(CURL);
    expect(chooseBoundary([WEBKIT, CURL], body(WEBKIT))).toBe(WEBKIT);
  });

  it('needs the whole delimiter: a boundary that is a prefix of the real one does not fit', () => {
    expect(chooseBoundary(['abc', 'abcd'], body('abcd'))).toBe('abcd');
    expect(chooseBoundary(['abc'], body('abcd'))).toBeUndefined();
  });

  it('accepts transport padding and an empty form (the closing delimiter)', () => {
    expect(chooseBoundary(['x', 'y'], Buffer.from('--y \r\n'))).toBe('y');
    expect(chooseBoundary(['x', 'y'], Buffer.from('--y--\r\n'))).toBe('y');
  });

  it('skips a preamble: the first delimiter at the start of a line wins (RFC 2046 §5.1.1)', () => {
    const preamble = (text: string, boundary: string) =>
      Buffer.concat([Buffer.from(`${text}\r\n`), body(boundary)]);
    expect(chooseBoundary([WEBKIT, CURL], preamble('MIME preamble', CURL))).toBe(CURL);
    // Named inside the preamble's line, or not ending a delimiter line: not a delimiter.
    expect(chooseBoundary([WEBKIT, CURL], preamble(`see --${WEBKIT}`, CURL))).toBe(CURL);
    expect(chooseBoundary(['x', 'y'], preamble('--xz\r\n', 'y'))).toBe('y');
    expect(chooseBoundary(['x', 'y'], Buffer.from('--x\r\n--y\r\n'))).toBe('x');
  });

  it('finds none in a body that starts otherwise, is too short, or for an empty boundary', () => {
    expect(chooseBoundary([WEBKIT, CURL], Buffer.from('hello'))).toBeUndefined();
    expect(chooseBoundary([CURL], Buffer.from(`--${CURL}`))).toBeUndefined();
    expect(chooseBoundary([''], Buffer.from('--\r\n'))).toBeUndefined();
  });
});

describe(withBoundary.name, () => {
  it('keeps the media type and its other parameters, with the one boundary', () => {
    expect(withBoundary(TWO, CURL)).toBe(`multipart/form-data; boundary=${CURL}`);
    expect(withBoundary(`multipart/form-data; charset=utf-8; boundary=a; boundary=b`, 'b')).toBe(
      'multipart/form-data; charset=utf-8; boundary=b',
    );
  });

  it('quotes a boundary that is not a token', () => {
    expect(withBoundary('multipart/form-data; boundary=x; boundary="a b"', 'a b')).toBe(
      'multipart/form-data; boundary="a b"',
    );
    expect(boundaryParameters(withBoundary(TWO, 'q"x'))).toEqual(['q"x']);
  });
});

describe(bytesToTell.name, () => {
  it('covers the longest delimiter and what follows it', () => {
    expect(bytesToTell([WEBKIT, CURL])).toBe(CURL.length + 4);
  });
});

describe(peekBody.name, () => {
  function request(): IncomingMessage {
    return new IncomingMessage(new Socket());
  }

  it('returns the first bytes and leaves the whole body to be read', async () => {
    const raw = request();
    const peeked = peekBody(raw, 10);
    raw.push(Buffer.from('abcd'));
    setImmediate(() => raw.push(Buffer.from('efghijklmn')));
    expect((await peeked).toString()).toBe('abcdefghijklmn');
    raw.push(Buffer.from('opq'));
    raw.complete = true;
    raw.push(null);
    const chunks: Buffer[] = [];
    for await (const chunk of raw) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('abcdefghijklmnopq');
  });

  it('returns a shorter body whole, and it can still be read to its end', async () => {
    const raw = request();
    raw.push(Buffer.from('ab'));
    raw.complete = true;
    raw.push(null);
    expect((await peekBody(raw, 10)).toString()).toBe('ab');
    const chunks: Buffer[] = [];
    for await (const chunk of raw) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('ab');
  });

  it('stops as soon as `enough` says the bytes so far are enough', async () => {
    const raw = request();
    const peeked = peekBody(raw, 100, (head) => head.includes('!'));
    raw.push(Buffer.from('ab'));
    setImmediate(() => raw.push(Buffer.from('c!d')));
    expect((await peeked).toString()).toBe('abc!d');
  });

  it('gives up on a request that is destroyed before enough arrived', async () => {
    const raw = request();
    const peeked = peekBody(raw, 10);
    raw.push(Buffer.from('ab'));
    setImmediate(() => raw.destroy());
    expect((await peeked).toString()).toBe('ab');
  });
});
