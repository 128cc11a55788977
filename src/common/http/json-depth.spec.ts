import { jsonNestingPath, jsonTooDeep, MAX_JSON_DEPTH } from './json-depth';

const nested = (depth: number, open = '[', close = ']'): string =>
  open.repeat(depth) + close.repeat(depth);

describe(jsonNestingPath.name, () => {
  it('lets through bodies up to the limit', () => {
    expect(jsonNestingPath(nested(MAX_JSON_DEPTH))).toBeUndefined();
    expect(jsonNestingPath('{"a":{"b":[1,{"c":"d"}]}}', 4)).toBeUndefined();
    expect(jsonNestingPath('"just a string"')).toBeUndefined();
    expect(jsonNestingPath('')).toBeUndefined();
  });

  it('names the path of the first value nested too deeply', () => {
    expect(jsonNestingPath(nested(MAX_JSON_DEPTH + 1))).toBe(
      Array(MAX_JSON_DEPTH).fill('0').join('.'),
    );
    expect(jsonNestingPath('{"a":{"b":[1,2,{"c":{}}]}}', 3)).toBe('a.b.2');
    expect(jsonNestingPath('{"a":1,"b":{"x":[]},"c":{"d":{}}}', 2)).toBe('b.x');
    expect(jsonNestingPath('{"a\\"b":{"c":{}}}', 2)).toBe('a"b.c');
  });

  it('ignores brackets, braces and quotes inside strings', () => {
    expect(jsonNestingPath(`{"a":"${'[{'.repeat(100)}\\"${'['.repeat(100)}"}`, 2)).toBeUndefined();
    expect(jsonNestingPath(`["\\\\", [[]]]`, 2)).toBe('1.0');
  });

  it('scans 5000 levels, and megabytes of string, without recursion or delay', () => {
    const deep = `{"email":${nested(5000)}}`;
    expect(jsonNestingPath(deep)?.startsWith('email.0.0')).toBe(true);
    const started = Date.now();
    expect(jsonNestingPath(`{"image":"${'A'.repeat(20_000_000)}"}`)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('shortens a long path', () => {
    const key = 'k'.repeat(500);
    expect(jsonNestingPath(`{"${key}":{"x":{}}}`, 2)).toBe(`${'k'.repeat(200)}…`);
  });
});

describe(jsonTooDeep.name, () => {
  it('is a field-level validation problem', () => {
    expect(jsonTooDeep('a.b')).toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'a.b', message: `is nested more than ${MAX_JSON_DEPTH} levels deep` }],
    });
  });
});
