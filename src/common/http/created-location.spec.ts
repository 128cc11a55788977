import { childOfCollection, siblingOfAction } from './created-location';

describe('CreatedLocation', () => {
  it('puts a created resource under the collection it was posted to', () => {
    expect(childOfCollection('/api/v1/products', { id: 'abc' })).toBe('/api/v1/products/abc');
    expect(childOfCollection('/api/v1/products/', { id: 'abc' })).toBe('/api/v1/products/abc');
    expect(childOfCollection('/api/v1/products/p1/images', { id: 'i1' })).toBe(
      '/api/v1/products/p1/images/i1',
    );
  });

  it('puts the result of an action beside it (…/images/attach → …/images/{id})', () => {
    expect(siblingOfAction('/api/v1/products/p1/images/attach', { id: 'i1' })).toBe(
      '/api/v1/products/p1/images/i1',
    );
  });

  it('encodes the id, so it can never add a path segment', () => {
    expect(childOfCollection('/api/v1/users', { id: 'a/b?c' })).toBe('/api/v1/users/a%2Fb%3Fc');
  });
});
