import { plainToInstance } from 'class-transformer';
import { IsBoolean, IsEnum, IsInt, IsOptional, IsString, Min, validateSync } from 'class-validator';
import { MaxLength } from './max-length';
import { AppError } from '../errors/app.error';
import {
  flattenValidationErrors,
  MAX_OBJECT_FIELDS,
  REQUIRED_MESSAGE,
  validateInput,
} from './validation';

enum Colour {
  Red = 'red',
}

class Body {
  @IsString()
  @MaxLength(10)
  name!: string;

  @IsEnum(Colour, { message: 'colour must be red' })
  colour!: Colour;

  @IsInt()
  @Min(0)
  count!: number;

  @IsOptional()
  @IsInt({ message: 'rank must be an integer ≥ 0' })
  rank?: number;

  @IsOptional()
  @IsBoolean()
  flag?: boolean;
}

function errorsOf(plain: object) {
  try {
    validateInput(Body, plain);
  } catch (error) {
    if (error instanceof AppError) return error.errors;
    throw error;
  }
  return [];
}

describe(flattenValidationErrors.name, () => {
  it('says only "is required" for each required field left out', () => {
    expect(errorsOf({})).toEqual([
      { field: 'name', message: REQUIRED_MESSAGE },
      { field: 'colour', message: REQUIRED_MESSAGE },
      { field: 'count', message: REQUIRED_MESSAGE },
    ]);
  });

  it('keeps the rules of fields that were sent, null included', () => {
    expect(errorsOf({ name: null, colour: 'blue', count: -1 })).toEqual([
      { field: 'name', message: 'name must be shorter than or equal to 10 characters' },
      { field: 'name', message: 'name must be a string' },
      { field: 'colour', message: 'colour must be red' },
      { field: 'count', message: 'count must not be less than 0' },
    ]);
  });

  it('says "must be an integer" for a number that is not whole, and keeps a DTO\'s own message', () => {
    expect(errorsOf({ name: 'a', colour: 'red', count: 1.5, rank: 2.5 })).toEqual([
      { field: 'count', message: 'count must be an integer' },
      { field: 'rank', message: 'rank must be an integer ≥ 0' },
    ]);
  });

  it('leaves out the bounds of a value of the wrong type', () => {
    expect(errorsOf({ name: 'a', colour: 'red', count: '-1.5' })).toEqual([
      { field: 'count', message: 'count must be an integer' },
    ]);
  });

  it('cannot tell a field left out when the value is not recorded, and says what the rules say', () => {
    const errors = validateSync(plainToInstance(Body, { name: 'a', colour: 'red' }), {
      validationError: { value: false },
    });
    expect(flattenValidationErrors(errors)).toEqual([
      { field: 'count', message: 'count must be an integer' },
    ]);
  });
});

describe(validateInput.name, () => {
  const valid = { name: 'a', colour: 'red', count: 1 };

  it('refuses a field named like an Object.prototype member, which class-transformer skips', () => {
    expect(errorsOf({ ...valid, constructor: '1' })).toEqual([
      { field: 'constructor', message: 'property constructor should not exist' },
    ]);
    expect(errorsOf({ ...valid, toString: 'x', unknown: 'y' })).toEqual([
      { field: 'toString', message: 'property toString should not exist' },
    ]);
  });

  it('takes such names as values', () => {
    expect(errorsOf({ ...valid, name: 'toString' })).toEqual([]);
  });

  it('answers a field holding an object keyed constructor or __proto__ as the wrong type', () => {
    // class-transformer took the nested `constructor` for the class to build: a TypeError (500).
    for (const nested of [
      { constructor: 1 },
      JSON.parse('{"__proto__": {"x": 1}}') as object,
      [{ constructor: 'x' }],
    ]) {
      const errors = errorsOf({ ...valid, name: nested });
      expect(errors).toContainEqual({ field: 'name', message: 'name must be a string' });
      expect(errors.every((error) => error.field === 'name')).toBe(true);
    }
  });

  it('refuses an object of more than MAX_OBJECT_FIELDS properties by their number, naming where', () => {
    const crowded = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 1]));
    const many = MAX_OBJECT_FIELDS + 1;
    const message = `has ${many} properties, more than the ${MAX_OBJECT_FIELDS} read`;
    expect(errorsOf({ ...valid, ...crowded(MAX_OBJECT_FIELDS - 2) })).toEqual([
      { field: 'body', message },
    ]);
    expect(errorsOf({ ...valid, name: [1, crowded(many)] })).toEqual([
      { field: 'name.1', message },
    ]);
    // Up to the limit, each unknown property is named, as before.
    expect(errorsOf({ ...valid, ...crowded(MAX_OBJECT_FIELDS - 3) })).toHaveLength(
      MAX_OBJECT_FIELDS - 3,
    );
  });
});
