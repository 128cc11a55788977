import { plainToInstance } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, validateSync } from 'class-validator';
import {
  FormBoolean,
  FormInteger,
  parseFormBoolean,
  parseFormInteger,
  parseQueryInteger,
} from './form-values';

describe(parseFormBoolean.name, () => {
  it.each(['true', 'True', 'TRUE', '1', 'yes', 'Yes', 'on', 'ON', ' true '])(
    'reads %j as true',
    (v) => expect(parseFormBoolean(v)).toBe(true),
  );

  it.each(['false', 'False', '0', 'no', 'NO', 'off', 'Off', '\tfalse\n'])(
    'reads %j as false',
    (v) => expect(parseFormBoolean(v)).toBe(false),
  );

  it.each(['', 'yes please', 't', 'y', '2', 'null', 'truee'])('leaves %j as it is', (v) =>
    expect(parseFormBoolean(v)).toBe(v),
  );

  it('leaves values that are not text alone', () => {
    expect(parseFormBoolean(true)).toBe(true);
    expect(parseFormBoolean(0)).toBe(0);
    expect(parseFormBoolean(undefined)).toBeUndefined();
  });
});

describe(parseFormInteger.name, () => {
  it.each([
    ['7', 7],
    [' 7 ', 7],
    ['\t42\n', 42],
    ['007', 7],
    ['-1', -1],
    ['+3', 3],
    ['999999999', 999_999_999],
  ])('reads %j as %d', (text, value) => expect(parseFormInteger(text)).toBe(value));

  it.each(['', ' ', '1.5', '1e3', '0x10', 'seven', '1 000', '1234567890', '--1'])(
    'leaves %j as it is',
    (text) => expect(parseFormInteger(text)).toBe(text),
  );
});

describe(parseQueryInteger.name, () => {
  it('reads decimal digits only', () => {
    expect(parseQueryInteger('2')).toBe(2);
    expect(parseQueryInteger('007')).toBe(7);
    expect(parseQueryInteger('999999999999999')).toBe(999999999999999);
    for (const text of ['0x10', '0b11', '0o7', '1e1', '+1', '-1', ' 1', '1 ', '1.0', '', 'abc']) {
      expect(parseQueryInteger(text)).toBe(text);
    }
    // Past 15 digits a number is no longer exact: left for the bounds' message.
    expect(parseQueryInteger('9007199254740993')).toBe('9007199254740993');
    expect(parseQueryInteger(['1', '2'])).toEqual(['1', '2']);
  });
});

describe(`${FormBoolean.name} and ${FormInteger.name}`, () => {
  class Fields {
    @IsOptional()
    @FormBoolean()
    @IsBoolean()
    flag?: boolean;

    @IsOptional()
    @FormInteger()
    @IsInt()
    count?: number;
  }

  it('turn form text into typed values that pass the type checks', () => {
    const fields = plainToInstance(Fields, { flag: 'True', count: ' 12 ' });
    expect(fields).toEqual({ flag: true, count: 12 });
    expect(validateSync(fields)).toEqual([]);
  });

  it('leave other text to be refused by the type checks', () => {
    const fields = plainToInstance(Fields, { flag: 'maybe', count: '1.5' });
    expect(validateSync(fields).map((e) => e.property)).toEqual(['flag', 'count']);
  });
});
