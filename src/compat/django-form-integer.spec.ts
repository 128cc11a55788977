import { parseDjangoFormInteger } from './django-form-integer';

describe(parseDjangoFormInteger.name, () => {
  it.each([
    ['1', 1],
    ['0', 0],
    [' 2 ', 2],
    ['+3', 3],
    ['-4', -4],
    ['2.0', 2],
    ['3.', 3],
    ['4.00 ', 4],
    ['1000000.0', 1000000],
  ])('reads %j as %d, as Django REST framework does', (value, expected) =>
    expect(parseDjangoFormInteger(value)).toBe(expected),
  );

  it.each(['', ' ', '1.5', '1.01', '.0', '1e1', '0x10', 'first', '1 0', '1234567890'])(
    'leaves %j as it is',
    (value) => expect(parseDjangoFormInteger(value)).toBe(value),
  );

  it('leaves values that are not text alone', () => {
    expect(parseDjangoFormInteger(7)).toBe(7);
    expect(parseDjangoFormInteger(undefined)).toBeUndefined();
  });
});
