// eslint-disable-next-line no-restricted-imports -- the rule this file's decorator replaces
import { MaxLength as ValidatorJsMaxLength, validateSync } from 'class-validator';
import { codePointLength, MaxLength } from './max-length';

class Named {
  @MaxLength(4)
  name!: unknown;
}

/** class-validator's own, only to show where the two counts part. */
class NamedByValidatorJs {
  @ValidatorJsMaxLength(4)
  name!: unknown;
}

function errors(type: new () => { name: unknown }, name: unknown): string[] {
  const instance = Object.assign(new type(), { name });
  return validateSync(instance).flatMap((error) => Object.values(error.constraints ?? {}));
}

describe(MaxLength.name, () => {
  it('counts code points, as PostgreSQL counts the characters of a varchar', () => {
    expect(codePointLength('')).toBe(0);
    expect(codePointLength('abcd')).toBe(4);
    expect(codePointLength('ünï')).toBe(3);
    // A surrogate pair is one code point; a variation selector is one of its own.
    expect(codePointLength('😀😀')).toBe(2);
    expect(codePointLength('\u2764\ufe0f')).toBe(2);
    // e + a combining acute accent: two, as PostgreSQL counts them.
    expect(codePointLength('e\u0301')).toBe(2);
    // A lone surrogate (which JSON can carry) counts as one unit.
    expect(codePointLength('\ud800x')).toBe(2);
    expect(codePointLength('x\udc00')).toBe(2);
  });

  it("refuses what a varchar(max) cannot hold, with class-validator's message", () => {
    expect(errors(Named, 'abcd')).toEqual([]);
    expect(errors(Named, '😀😀😀😀')).toEqual([]);
    expect(errors(Named, '\u2764\ufe0f\u2764\ufe0f')).toEqual([]);
    const message = 'name must be shorter than or equal to 4 characters';
    expect(errors(Named, 'abcde')).toEqual([message]);
    expect(errors(Named, '\u2764\ufe0f'.repeat(3))).toEqual([message]);
    expect(errors(Named, 42)).toEqual([message]);
    // validator.js leaves the variation selectors out: three hearts (six characters) pass.
    expect(errors(NamedByValidatorJs, '\u2764\ufe0f'.repeat(3))).toEqual([]);
    expect(errors(NamedByValidatorJs, 'abcde')).toEqual([message]);
  });
});
