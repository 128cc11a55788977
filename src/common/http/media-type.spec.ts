import { isMediaType } from './media-type';

describe(isMediaType.name, () => {
  it.each([
    'application/json',
    'Application/JSON',
    'application/json; charset=utf-8',
    'application/json ;charset=utf-8',
    ' application/json',
    '\u00a0application/json\t',
  ])('takes %j for application/json', (type) => {
    expect(isMediaType(type, 'application/json')).toBe(true);
  });

  it.each([
    undefined,
    '',
    'application/jsonx',
    'application/json-patch+json',
    'text/json',
    'x application/json',
  ])('does not take %j for application/json', (type) => {
    expect(isMediaType(type, 'application/json')).toBe(false);
  });
});
