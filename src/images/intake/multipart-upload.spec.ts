import { cleanFilename } from './multipart-upload';

describe(cleanFilename.name, () => {
  it('keeps the last path segment of a name, as sent', () => {
    expect(cleanFilename(undefined)).toBe('');
    expect(cleanFilename('C:\\Users\\ann\\front.jpg')).toBe('front.jpg');
    expect(cleanFilename('../../etc/front.jpg')).toBe('front.jpg');
    expect(cleanFilename('Crème brûlée – front (1).jpg')).toBe('Crème brûlée – front (1).jpg');
  });

  it('drops what would show other than it is, or corrupt a log or a header', () => {
    // A bidi override: "café \u202egnp.exe" shows as "café exe.png".
    expect(cleanFilename('café \u202egnp.exe')).toBe('café gnp.exe');
    expect(cleanFilename('a\u0000b\u001bc\u007fd\u0085e\u2028f\u2029g\u200bh\ufeffi.png')).toBe(
      'abcdefghi.png',
    );
    expect(cleanFilename('a\ud800b.png')).toBe('ab.png');
    // Not the zero-width joiners of emoji sequences (and of Persian or Indic spelling).
    expect(cleanFilename('👨\u200d🍳.jpg')).toBe('👨\u200d🍳.jpg');
    // Composed: "é" as e plus a combining accent is the "é" of one code point.
    expect(cleanFilename('cafe\u0301.png')).toBe('caf\u00e9.png');
  });

  it('cuts a long name before its extension, never inside a character', () => {
    const cut = cleanFilename(`${'a'.repeat(254)}😀.png`);
    expect([...cut]).toHaveLength(255);
    expect(cut).toBe(`${'a'.repeat(251)}.png`);
    const emoji = cleanFilename(`${'😀'.repeat(300)}.jpeg`);
    expect([...emoji]).toHaveLength(255);
    expect(emoji).toBe(`${'😀'.repeat(250)}.jpeg`);
    // No extension to keep: cut at 255 characters.
    expect(cleanFilename('b'.repeat(300))).toBe('b'.repeat(255));
  });
});
