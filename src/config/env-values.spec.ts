import { enabledCompatApis, isServiceUrl, parseList } from './env-values';

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

describe(isServiceUrl.name, () => {
  const PG = ['postgres', 'postgresql'];

  it('takes the URLs the clients connect with', () => {
    for (const url of [
      'postgres://user:secret@db.internal:5432/images',
      'postgresql://user@[::1]/images?sslmode=require',
      'postgres://user:p%40ss@db/images',
      'postgres:///images?host=/run/postgresql',
    ]) {
      expect({ url, ok: isServiceUrl(url, PG) }).toEqual({ url, ok: true });
    }
    expect(isServiceUrl('rediss://:secret@cache:6380/2', ['redis', 'rediss'])).toBe(true);
  });

  it('refuses a port out of range, a broken %-escape and another scheme', () => {
    for (const url of [
      'postgres://user:secret@db:99999/images',
      'postgres://user:secret@db:0/images',
      'postgres://user:50%off@db/images',
      'postgres://us%zzer@db/images',
      'mysql://user@db/images',
      'postgres//db/images',
    ]) {
      expect({ url, ok: isServiceUrl(url, PG) }).toEqual({ url, ok: false });
    }
  });

  it('refuses a URL naming no host: the clients would go to localhost instead', () => {
    for (const url of ['postgres://', 'postgres:///images', 'postgres:///images?host=']) {
      expect({ url, ok: isServiceUrl(url, PG) }).toEqual({ url, ok: false });
    }
    for (const url of ['redis://', 'redis:///0', 'rediss://?host=/run/redis.sock']) {
      expect({ url, ok: isServiceUrl(url, ['redis', 'rediss']) }).toEqual({ url, ok: false });
    }
  });
});
