import { unsupportedNode } from './node-version';

// Imported first by the entry points (main.ts, cli.ts), before anything that loads an addon.
const reason = unsupportedNode(process.versions.node);
if (reason) {
  process.stderr.write(`${reason}\n`);
  process.exit(1);
}
