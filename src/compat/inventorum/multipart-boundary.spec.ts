import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import {
  BoundaryScan,
  boundaryParameters,
  chooseBoundary,
  peekBody,
  settleBoundary,
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

describe(BoundaryScan.name, () => {
  it('decides as the bytes come, as chooseBoundary does on them all', () => {
    const whole = Buffer.concat([Buffer.from('preamble\r\n\r\n'), body(CURL)]);
    const scan = new BoundaryScan([WEBKIT, CURL]);
    const seen: (string | undefined)[] = [];
    for (let n = 1; n <= whole.length; n++) seen.push(scan.scan(whole.subarray(0, n)));
    // Undecided until the delimiter and the two bytes after it (for the longest) have come.
    const decidedAt = seen.findIndex((chosen) => chosen !== undefined) + 1;
    expect(decidedAt).toBe('preamble\r\n\r\n'.length + `--${CURL}`.length + 2);
    expect(seen.slice(decidedAt - 1).every((chosen) => chosen === CURL)).toBe(true);
  });

  it('says nothing of a line start too near the end until told no more will come', () => {
    const scan = new BoundaryScan(['x', 'longer']);
    expect(scan.scan(Buffer.from('--x\r\n'))).toBeUndefined();
    expect(scan.scan(Buffer.from('--x\r\n'), true)).toBe('x');
  });

  it('looks at each line start once however the body is cut: linear in the bytes', () => {
    // 8 KiB of delimiter-like lines for four candidates, none of them a delimiter line, fed a
    // byte at a time: each byte is read once by the scan, not once for each time it is asked.
    const head = Buffer.from('--ax\r\n'.repeat(1_400));
    const scan = new BoundaryScan(['a', 'b', 'c', 'd']);
    const equals = jest.spyOn(Buffer.prototype, 'equals');
    try {
      for (let n = 1; n <= head.length; n++) expect(scan.scan(head.subarray(0, n))).toBeUndefined();
      // Each line start compared once per candidate it could be (a delimiter of the same start).
      expect(equals.mock.calls.length).toBeLessThanOrEqual(1_400 * 4);
    } finally {
      equals.mockRestore();
    }
  });
});

describe(settleBoundary.name, () => {
  const request = (contentType: string, bytes: Buffer) => {
    const raw = new IncomingMessage(new Socket());
    raw.headers['content-type'] = contentType;
    raw.push(bytes);
    raw.push(null);
    return raw;
  };

  it('narrows two boundary parameters to the one the body uses, after a preamble', async () => {
    const raw = request(
      `multipart/form-data; boundary=x; boundary=${CURL}`,
      Buffer.concat([Buffer.from('MIME\r\n'), body(CURL)]),
    );
    await settleBoundary(raw);
    expect(raw.headers['content-type']).toBe(`multipart/form-data; boundary=${CURL}`);
  });

  it('leaves a header naming more than four boundaries, or one many times, as it is', async () => {
    const many = `multipart/form-data${'; boundary=a; boundary=b; boundary=c'.repeat(2)}; boundary=d; boundary=e`;
    const raw = request(many, body('e'));
    await settleBoundary(raw);
    expect(raw.headers['content-type']).toBe(many);
    // The same value 1,330 times is one candidate: the header is narrowed to it.
    const repeated = `multipart/form-data${'; boundary=a'.repeat(1_330)}`;
    const once = request(repeated, body('a'));
    await settleBoundary(once);
    expect(once.headers['content-type']).toBe('multipart/form-data; boundary=a');
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
