// node bench/profile.mjs FILE.cpuprofile [--top N] [--grep TEXT] [--from SECONDS]
// Summarises a V8 CPU profile (`npm run bench -- --profile DIR` writes one per start of the
// service): where the samples fall by package or source file, then the functions with the most
// self time and the most inclusive time (each sample counted once per function on its stack).
// `--grep` keeps only the samples whose stack names TEXT (a function or a file), e.g. a route's
// handler, to see what one request path costs; `--from` leaves out the samples of the first
// seconds (the start-up, when the service was started for the profile).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    grep: { type: 'string' },
    from: { type: 'string', default: '0' },
  },
});
if (positionals.length !== 1) {
  console.error('node bench/profile.mjs FILE.cpuprofile [--top N] [--grep TEXT] [--from SECONDS]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const top = Number(values.top);

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes)
  for (const child of node.children ?? []) parent.set(child, node.id);

/** Where a frame's code lives: a package, a file of the service, Node's own, or V8's. */
function place(frame) {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return url;
  const dist = /\/dist\/(.*)$/.exec(url);
  return dist ? dist[1] : url;
}

const label = (frame) =>
  `${frame.functionName || '(anonymous)'} ${place(frame)}:${frame.lineNumber + 1}`;

/** The frames of a node's stack, leaf first. */
function stack(id) {
  const frames = [];
  for (let at = id; at !== undefined; at = parent.get(at)) frames.push(byId.get(at).callFrame);
  return frames;
}

// Each sample's weight is the time until the next one; samples before `--from` are left out.
const weights = new Map();
const from = Number(values.from) * 1e6;
let at = 0;
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i];
  if (at < from) return;
  const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
  weights.set(id, (weights.get(id) ?? 0) + ms);
});

const self = new Map();
const inclusive = new Map();
const places = new Map();
let total = 0;
let idle = 0;
for (const [id, ms] of weights) {
  const frames = stack(id);
  const leaf = frames[0];
  if (leaf.functionName === '(idle)') {
    idle += ms;
    continue;
  }
  if (values.grep && !frames.some((f) => label(f).includes(values.grep))) continue;
  total += ms;
  const add = (map, key) => map.set(key, (map.get(key) ?? 0) + ms);
  add(self, label(leaf));
  add(places, place(leaf));
  for (const key of new Set(frames.map(label))) add(inclusive, key);
}

const pct = (ms) => `${((100 * ms) / total).toFixed(1).padStart(5)} %`;
const print = (title, map) => {
  console.log(`\n${title}`);
  for (const [key, ms] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${key}`);
  }
};
console.log(
  `${positionals[0]}: ${total.toFixed(0)} ms of CPU${values.grep ? ` under "${values.grep}"` : ''}${from ? ` after ${values.from} s` : ''}, ${idle.toFixed(0)} ms idle`,
);
print('Self time by place', places);
print('Self time by function', self);
print('Inclusive time by function', inclusive);
