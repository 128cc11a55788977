import { fingerprintPath, operationPath, targetPath } from './fingerprint-path';

describe(fingerprintPath.name, () => {
  it.each([
    ['/api/v1/products', '/api/v1/products'],
    ['/api/v1/%70roduct%73', '/api/v1/products'],
    [
      '/api/v1/products/by-external-id/caf%c3%a9%7e1/images',
      '/api/v1/products/by-external-id/caf%C3%A9~1/images',
    ],
    ['/a/%2d%2E%5f%7E%41%7a%30', '/a/-._~Az0'],
  ])('reads %j as %j', (path, expected) => {
    expect(fingerprintPath(path)).toBe(expected);
  });

  it.each([
    ['/a%2fb', '/a%2Fb'],
    ['/a%3fb', '/a%3Fb'],
    ['/a%25b', '/a%25b'],
    ['/a%20b', '/a%20b'],
    ['/a%c3%A9', '/a%C3%A9'],
  ])(
    'keeps %j encoded (not an unreserved character), its hex in upper case: %j',
    (path, expected) => {
      expect(fingerprintPath(path)).toBe(expected);
    },
  );

  it('leaves a % without two hex digits after it as it is', () => {
    expect(fingerprintPath('/a%zz/%4')).toBe('/a%zz/%4');
  });
});

describe(operationPath.name, () => {
  const aliases = ['/api/images/', '/api/images'];

  it.each([
    ['/api/images/', '/api/images/'],
    ['/api/images', '/api/images/'],
    ['/api/image%73', '/api/images/'],
  ])('reads %j, one of the aliases, as the first of them: %j', (path, expected) => {
    expect(operationPath(path, aliases)).toBe(expected);
  });

  it.each([
    ['/api/images//', '/api/images//'],
    ['/api/images%2f', '/api/images%2F'],
    ['/api/v1/images', '/api/v1/images'],
  ])('reads %j, none of them, as fingerprintPath does: %j', (path, expected) => {
    expect(operationPath(path, aliases)).toBe(expected);
  });

  it('reads a path as fingerprintPath does without aliases', () => {
    expect(operationPath('/api/images')).toBe('/api/images');
  });
});

describe(targetPath.name, () => {
  it.each([
    ['/api/v1/products?page=2', '/api/v1/products'],
    ['http://127.0.0.1:3000/api/v1/products', '/api/v1/products'],
    ['HTTPS://images.example/api/images/?a=1', '/api/images/'],
    ['http://images.example', '/'],
    ['http://images.example?a=1', '/'],
  ])('reads %j as %j', (url, expected) => {
    expect(targetPath(url)).toBe(expected);
  });

  it('leaves a target in no form the router takes as it is', () => {
    expect(targetPath('ftp://host/a')).toBe('ftp://host/a');
  });
});
