import { validateInput } from './validation';
import { DateTime, parseDateTime } from './date-time';

class WithDate {
  @DateTime('when must be an ISO 8601 date-time')
  when!: Date;
}

describe(parseDateTime.name, () => {
  it.each([
    ['2027-01-31T00:00:00Z', '2027-01-31T00:00:00.000Z'],
    ['2027-01-31t10:20:30z', '2027-01-31T10:20:30.000Z'],
    ['2027-01-31T10:20:30.123456+02:00', '2027-01-31T08:20:30.123Z'],
    ['2027-01-31T00:30:00-05:30', '2027-01-31T06:00:00.000Z'],
    ['2028-02-29T23:59:59Z', '2028-02-29T23:59:59.000Z'],
    ['2027-01-31', '2027-01-31T00:00:00.000Z'],
    ['2030-01-02T10:00:00.1234567891Z', '2030-01-02T10:00:00.123Z'],
    ['2030-01-02T10:00:00.5Z', '2030-01-02T10:00:00.500Z'],
    ['0099-01-01T00:00:00Z', '0099-01-01T00:00:00.000Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(parseDateTime(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '2030-02-30T00:00:00Z', // no 30 February (new Date moved it to 2 March)
    '2027-02-29T00:00:00Z',
    '2027-04-31',
    '2027-13-01T00:00:00Z',
    '2027-01-31T24:00:00Z',
    '2027-01-31T10:60:00Z',
    '2027-01-31T10:00:60Z',
    '2027-01-31T10:00:00+24:00',
    '2027-01-31T10:00:00', // no offset: a time in which zone?
    '2027-01-31 10:00:00Z',
    '1/2/2030', // read in the server's zone by new Date
    'Sat, 30 Jan 2027 00:00:00 GMT',
    '2027-1-31',
    '+002027-01-31T00:00:00Z',
    '',
    ' 2027-01-31T00:00:00Z',
  ])('refuses %j', (text) => {
    expect(parseDateTime(text)).toBeUndefined();
  });
});

describe(DateTime.name, () => {
  it('takes a date-time as a Date, and refuses anything else naming the field', () => {
    expect(validateInput(WithDate, { when: '2027-01-31T00:00:00Z' }).when).toEqual(
      new Date('2027-01-31T00:00:00Z'),
    );
    for (const when of ['2030-02-30T00:00:00Z', '1/2/2030', 1_700_000_000_000, true, {}]) {
      expect(() => validateInput(WithDate, { when })).toThrow(
        expect.objectContaining({
          code: 'validation_failed',
          errors: [{ field: 'when', message: 'when must be an ISO 8601 date-time' }],
        }),
      );
    }
  });
});
