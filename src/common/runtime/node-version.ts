/**
 * The Node.js lines the service runs on (package.json `engines`). On an older one, argon2's
 * prebuilt addon, loaded with the auth module, kills the process with a segmentation fault and no
 * message at all (seen on 20.20), so the entry points check first and say why they stop.
 */
const SUPPORTED_NODE = '22.12 or newer: 22, 24 or 26';

/** Why `version` (`process.versions.node`, e.g. `20.20.2`) cannot run the service, if it cannot. Pure. */
export function unsupportedNode(version: string): string | undefined {
  const [major, minor] = version.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12)) return undefined;
  return `This service needs Node.js ${SUPPORTED_NODE}; this is Node.js ${version}.`;
}
