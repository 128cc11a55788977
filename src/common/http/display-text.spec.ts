import { isDisplayText } from './display-text';

describe(isDisplayText.name, () => {
  it.each(['', 'Front of the box', 'Schuh “Läufer” – 42 €', '鞋子 👟', '\u00a0non-breaking'])(
    'takes %j on one line and on several',
    (text) => {
      expect(isDisplayText(text)).toBe(true);
      expect(isDisplayText(text, true)).toBe(true);
    },
  );

  it.each(['\t', '\n', '\r', '\u2028', '\u2029'])(
    'takes %j only in text of several lines',
    (text) => {
      expect(isDisplayText(`a${text}b`)).toBe(false);
      expect(isDisplayText(`a${text}b`, true)).toBe(true);
    },
  );

  it.each([
    '\u0001',
    '\u0007',
    '\u000b',
    '\u000c',
    '\u001b',
    '\u001f',
    '\u007f',
    '\u0080',
    '\u0085',
    '\u009f',
    // Noncharacters, which XML 1.0 refuses (a product feed built from titles would not parse).
    '\ufffe',
    '\uffff',
  ])('refuses %j everywhere', (control) => {
    expect(isDisplayText(`a${control}b`)).toBe(false);
    expect(isDisplayText(`a${control}b`, true)).toBe(false);
  });

  it('leaves values that are not strings to the type check', () => {
    expect(isDisplayText(undefined)).toBe(true);
    expect(isDisplayText(42)).toBe(true);
  });
});
