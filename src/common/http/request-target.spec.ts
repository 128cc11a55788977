import { requestTarget } from './request-target';

describe(requestTarget.name, () => {
  it.each([
    ['/a/b', '/a/b', ''],
    ['/a/b?x=1&y=%0d%0a', '/a/b', '?x=1&y=%0d%0a'],
    ['/a/b?', '/a/b', ''],
    ['/a/b#f', '/a/b', ''],
    ['/a/b#f?x=1', '/a/b', ''],
    ['/a/b?x=1#f', '/a/b', '?x=1'],
    ['/a/%2e%2e?x', '/a/%2e%2e', '?x'],
    ['http://[/a?x', 'http://[/a', '?x'],
  ])('splits %j into its path and query', (url, path, query) => {
    expect(requestTarget(url)).toEqual({ path, query });
  });
});
