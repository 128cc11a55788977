import {
  DISPLAY_TEXT_PATTERN,
  EMPTY_OR_NAME_TEXT_PATTERN,
  EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN,
  isDisplayText,
  isVisibleText,
  MULTILINE_TEXT_PATTERN,
  NAME_TEXT_PATTERN,
} from './display-text';

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

describe('the OpenAPI patterns of display text', () => {
  // As JSON Schema validators (ajv) compile a `pattern`: ECMA-262 with the u flag.
  const matches = (pattern: string, text: string) => new RegExp(pattern, 'u').test(text);
  const samples = [
    '',
    ' ',
    'Front of the box',
    '鞋子 👟',
    ...['\t', '\n', '\r', '\u2028', '\u2029', '\u0000', '\u001b', '\u0085', '\uffff'].map(
      (c) => `a${c}b`,
    ),
  ];

  it.each(samples)('agree with isDisplayText on %j', (text) => {
    expect(matches(DISPLAY_TEXT_PATTERN, text)).toBe(isDisplayText(text));
    expect(matches(MULTILINE_TEXT_PATTERN, text)).toBe(isDisplayText(text, true));
    expect(matches(NAME_TEXT_PATTERN, text)).toBe(
      isDisplayText(text) && text.trim() !== '' && isVisibleText(text),
    );
  });

  it.each([...samples, '\u200b\n\u202e', ' \n\t ', 'Two\n\u200blines', '\u0301\n'])(
    'agree with the rule of a description on %j',
    (text) => {
      expect(matches(EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN, text)).toBe(
        isDisplayText(text, true) && (text.trim() === '' || isVisibleText(text)),
      );
    },
  );

  // As the service reads a title or an alt text: trimmed, then empty or showing something.
  it.each([...samples, '\u3000 \ufeff', '\u200b', ' \u202e ', '\u0301', ' Front ', '\u200bShoe'])(
    'agree with the rule of a title or an alt text on %j',
    (text) => {
      expect(matches(EMPTY_OR_NAME_TEXT_PATTERN, text)).toBe(
        isDisplayText(text) && isVisibleText(text.trim()),
      );
    },
  );
});

describe(isVisibleText.name, () => {
  it.each([
    '\u200b',
    '\ufeff',
    '\u2060',
    '\u00ad',
    '\u202e',
    '\u0301',
    '\u3164',
    '\u2800',
    ' \u200d',
  ])('refuses %j, which shows as nothing', (text) => {
    expect(isVisibleText(text)).toBe(false);
    expect(new RegExp(NAME_TEXT_PATTERN, 'u').test(text)).toBe(false);
  });

  it.each(['a', 'e\u0301', '👩\u200d👧', '\u200bShoe', '鞋'])('takes %j', (text) => {
    expect(isVisibleText(text)).toBe(true);
    expect(new RegExp(NAME_TEXT_PATTERN, 'u').test(text)).toBe(true);
  });
});
