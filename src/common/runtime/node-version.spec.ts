import { unsupportedNode } from './node-version';

describe(unsupportedNode.name, () => {
  it.each(['22.12.0', '22.20.1', '24.0.0', '24.22.3', '26.1.0'])('runs on %s', (version) => {
    expect(unsupportedNode(version)).toBeUndefined();
  });

  it.each(['20.20.2', '18.19.0', '22.11.0', '21.7.3'])('stops on %s, saying why', (version) => {
    expect(unsupportedNode(version)).toBe(
      `This service needs Node.js 22.12 or newer: 22, 24 or 26; this is Node.js ${version}.`,
    );
  });
});
