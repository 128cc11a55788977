import { canonicalEmail } from './email-address';

describe(canonicalEmail.name, () => {
  it('gives every spelling of one address the same one', () => {
    const one = 'jos\u00e9@bücher.example';
    for (const spelling of [
      'jos\u00e9@bücher.example',
      ' JOS\u00c9@BÜCHER.EXAMPLE ',
      'jose\u0301@bücher.example',
      'jos\u00e9@xn--bcher-kva.example',
      'jos\u00e9@ｂüｃｈｅｒ.example',
    ]) {
      expect({ spelling, canonical: canonicalEmail(spelling) }).toEqual({
        spelling,
        canonical: one,
      });
    }
    expect(canonicalEmail('Ann@Example.COM')).toBe('ann@example.com');
  });

  it('keeps apart what is not the same address, and lower-cases what IDNA refuses', () => {
    expect(canonicalEmail('ann@example.com')).not.toBe(canonicalEmail('anne@example.com'));
    // The local part is composed, not folded: a full-width "ａｎｎ" is another mailbox.
    expect(canonicalEmail('ａｎｎ@example.com')).toBe('ａｎｎ@example.com');
    expect(canonicalEmail('Ann@[127.0.0.1]')).toBe('ann@[127.0.0.1]');
    expect(canonicalEmail('no-at-sign')).toBe('no-at-sign');
    expect(canonicalEmail('a@b@Example.com')).toBe('a@b@example.com');
  });

  it('is its own spelling, composed even where lower-casing decomposes', () => {
    for (const spelling of [
      'MA\u03aa\u0301@greek.example',
      'a\u03ab\u0301@x.example',
      '\u1fbc@x',
    ]) {
      const once = canonicalEmail(spelling);
      expect({
        spelling,
        composed: once === once.normalize('NFC'),
        again: canonicalEmail(once),
      }).toEqual({ spelling, composed: true, again: once });
    }
  });
});
