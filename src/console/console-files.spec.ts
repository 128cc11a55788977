import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONSOLE_PAGE,
  consoleAnswerFor,
  consoleBuildDir,
  consoleFileFor,
  isHashedAsset,
  isNavigation,
} from './console-files';

describe(consoleFileFor.name, () => {
  it.each([
    ['', CONSOLE_PAGE],
    ['products', CONSOLE_PAGE],
    ['products/9bYsGJZVNPTSbQeJxuSeuy', CONSOLE_PAGE],
    ['products/9bYsGJZVNPTSbQeJxuSeuy/images/7cTqv3WJ4rH2mXkzB9nYaP', CONSOLE_PAGE],
    ['jobs/', CONSOLE_PAGE],
    ['assets/index-B2x9.js', 'assets/index-B2x9.js'],
    ['favicon.svg', 'favicon.svg'],
  ])('/console/%s is answered by %s', (path, file) => {
    expect(consoleFileFor(path)).toBe(file);
  });

  it.each([
    '..',
    '../package.json',
    'assets/../index.html',
    'assets/../../package.json',
    '..\\package.json',
    'assets\\..\\index.html',
    'x\0.js',
    './index.html',
    'assets//x.js',
    'assets/./x.js',
    'a\\b.js',
  ])('/console/%j (as the router decoded it) is no file nor view of the console', (path) => {
    expect(consoleFileFor(path)).toBeUndefined();
  });

  it.each(['..js', 'a..b.js', '...', 'products/..x'])(
    '/console/%s is a name like any other',
    (path) => {
      expect(consoleFileFor(path)).not.toBeUndefined();
    },
  );
});

describe(isHashedAsset.name, () => {
  it('is true for the bundle Vite names by content, false for the page', () => {
    expect(isHashedAsset('assets/index-B2x9.js')).toBe(true);
    expect(isHashedAsset(CONSOLE_PAGE)).toBe(false);
  });
});

describe(consoleBuildDir.name, () => {
  it('is dist/console of the nearest folder with a package.json, from any depth', () => {
    const root = mkdtempSync(join(tmpdir(), 'pis-console-root-'));
    try {
      writeFileSync(join(root, 'package.json'), '{}');
      mkdirSync(join(root, 'dist', 'src', 'console'), { recursive: true });
      expect(consoleBuildDir(join(root, 'dist', 'src', 'console'))).toBe(
        join(root, 'dist', 'console'),
      );
      expect(consoleBuildDir(root)).toBe(join(root, 'dist', 'console'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe(consoleAnswerFor.name, () => {
  const none = () => false;
  it.each([
    ['products/Blue shoe.jpg', true, CONSOLE_PAGE],
    ['<img src=x onerror=alert(1)>.x', true, CONSOLE_PAGE],
    ['products/Blue shoe.jpg', false, 'products/Blue shoe.jpg'],
    ['assets/index-gone.js', true, 'assets/index-gone.js'],
    ['a<b"c d', false, CONSOLE_PAGE],
  ])('answers a missing %j (navigation: %s) with %s', (path, navigation, file) => {
    expect(consoleAnswerFor(path, none, navigation)).toBe(file);
  });

  it('answers a file the build has with that file, navigation or not', () => {
    expect(consoleAnswerFor('favicon.svg', () => true, true)).toBe('favicon.svg');
  });

  it.each(['../package.json', 'x\0.js', './index.html'])(
    'answers %j with nothing even as a navigation',
    (path) => {
      expect(consoleAnswerFor(path, none, true)).toBeUndefined();
    },
  );
});

describe(isNavigation.name, () => {
  it.each([
    [{ 'sec-fetch-mode': 'navigate', accept: '*/*' }, true],
    [{ 'sec-fetch-mode': 'no-cors', accept: 'text/html' }, false],
    [{ accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' }, true],
    [{ accept: '*/*' }, false],
    [{ accept: 'application/json, text/html' }, false],
    [{}, false],
  ])('says %j is a navigation: %s', (headers, navigation) => {
    expect(isNavigation(headers)).toBe(navigation);
  });
});
