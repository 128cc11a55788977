import { emptyAsUnsent, parseDjangoFormBoolean } from './django-form-boolean';

describe(parseDjangoFormBoolean.name, () => {
  it.each(['true', 'True', 'TRUE', 't', 'T', 'yes', 'Yes', 'y', 'Y', 'on', 'ON', '1', ' t '])(
    'reads %j as true, as Django REST framework does',
    (value) => expect(parseDjangoFormBoolean(value)).toBe(true),
  );

  it.each(['false', 'False', 'f', 'F', 'no', 'NO', 'n', 'N', 'off', 'Off', '0', '\tf\n'])(
    'reads %j as false, as Django REST framework does',
    (value) => expect(parseDjangoFormBoolean(value)).toBe(false),
  );

  it.each(['', ' ', 'maybe', '2', 'tr', 'yess', 'null', 'none'])('leaves %j as it is', (value) =>
    expect(parseDjangoFormBoolean(value)).toBe(value),
  );

  it('leaves values that are not text alone', () => {
    expect(parseDjangoFormBoolean(true)).toBe(true);
    expect(parseDjangoFormBoolean(undefined)).toBeUndefined();
  });
});

describe('emptyAsUnsent', () => {
  it('reads an empty value as not sent, and parses any other', () => {
    const read = emptyAsUnsent(parseDjangoFormBoolean);
    expect(read({ value: '' })).toBeUndefined();
    expect(read({ value: 'f' })).toBe(false);
    expect(read({ value: ' ' })).toBe(' ');
  });
});
