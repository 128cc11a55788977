import { gtinCheckDigit, normalizeGtin } from './gtin';

describe(normalizeGtin.name, () => {
  it.each([
    ['96385074', '00000096385074'], // GTIN-8
    ['036000291452', '00036000291452'], // UPC-A
    ['4006381333931', '04006381333931'], // EAN-13
    ['00012345678905', '00012345678905'], // GTIN-14 from Closient
    [' 4006381333931 ', '04006381333931'],
  ])('accepts %s as %s', (input, expected) => {
    expect(normalizeGtin(input)).toBe(expected);
  });

  it.each([
    '4006381333932',
    '12345',
    '123456789',
    '400638133393a',
    '',
    '000000000000000',
    '-4006381333931',
  ])('rejects %j', (input) => expect(normalizeGtin(input)).toBeUndefined());

  it('computes the GS1 check digit', () => {
    expect(gtinCheckDigit('400638133393')).toBe(1);
    expect(gtinCheckDigit('0001234567890')).toBe(5);
  });
});
