import { enabledCompatApis, parseList } from './env-values';

describe(parseList.name, () => {
  it('trims items and drops empty ones', () => {
    expect(parseList(' a, ,b ,')).toEqual(['a', 'b']);
  });
});

describe(enabledCompatApis.name, () => {
  it('turns on all, none, or the APIs named', () => {
    expect(enabledCompatApis('all')).toEqual([
      'token-api',
      'closient',
      'inventorum',
      'backoffice-uploader',
    ]);
    expect(enabledCompatApis('none')).toEqual([]);
    expect(enabledCompatApis('inventorum, token-api')).toEqual(['token-api', 'inventorum']);
  });
});
