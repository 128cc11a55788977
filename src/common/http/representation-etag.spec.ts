import { representationEtag } from './representation-etag';

describe(representationEtag.name, () => {
  it('is a weak tag of 22 base64url characters', () => {
    expect(representationEtag({ a: 1 })).toMatch(/^W\/"[A-Za-z0-9_-]{22}"$/);
  });

  it('is the same for the same content, and changes with any of it, dates and nesting included', () => {
    const body = { id: 'x', n: 1, at: new Date(0), nested: { url: 'https://a/b' }, list: [1, 2] };
    expect(representationEtag(body)).toBe(representationEtag(structuredClone(body)));
    for (const changed of [
      { ...body, n: 2 },
      { ...body, at: new Date(1) },
      { ...body, nested: { url: 'https://a/c' } },
      { ...body, list: [2, 1] },
      { ...body, extra: null },
    ]) {
      expect(representationEtag(changed)).not.toBe(representationEtag(body));
    }
  });
});
