// npm run compose:check [-- file ...]: validates docker-compose.yml without Docker.
//
// The file is read as Compose reads it: YAML (1.2, merge keys allowed, duplicate keys refused),
// then `${VAR:-default}` and the other interpolation forms resolved against an EMPTY environment
// (no shell variables, no .env), so what is checked is what `docker compose config` would see on a
// fresh clone. It is then validated against the Compose Specification's JSON schema (the copy
// shipped by the `dclint` package, which tracks compose-spec/compose-spec), and against the rules
// Compose itself applies after the schema and this project's own:
//   - no `version:` key (obsolete: Compose ignores it and warns);
//   - every `image:` names an explicit version tag or a digest (not none, not `latest` or another
//     floating tag), so that the stack runs the same images everywhere;
//   - every service has an image or a build; `depends_on`, named volumes and networks refer to
//     services, volumes and networks the file declares.
//   - a bind mount of a relative path (`./docker/nginx.conf:…`) names a file or folder that exists.
// A value merged into several services (`<<: *anchor`) is checked in each, and a problem in it is
// reported once, at its line in the anchor.
// Every problem is printed as `file:line:column: path: message`; the exit code is 1 if any.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';

const require = createRequire(import.meta.url);
const schemaPackage = dirname(require.resolve('dclint/package.json'));
const schemaVersion = JSON.parse(readFileSync(join(schemaPackage, 'package.json'), 'utf8')).version;
const schema = JSON.parse(
  readFileSync(join(schemaPackage, 'schemas', 'compose.schema.json'), 'utf8'),
);
// Draft-07 under an https URL ajv does not know by that name; the keywords are draft-07's.
delete schema.$schema;
const validate = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }).compile(schema);

/** Tags that move: pinning to one of them pins nothing. */
const FLOATING_TAGS = new Set([
  'latest',
  'stable',
  'edge',
  'nightly',
  'dev',
  'beta',
  'canary',
  'lts',
]);

// ---------------------------------------------------------------------------------------------
// Interpolation, as Compose does it (compose-go's template package): $$ is a literal $, $VAR and
// ${VAR} substitute (unset: blank, with a warning), ${VAR:-d} / ${VAR-d} default when unset or
// empty / unset, ${VAR:?msg} / ${VAR?msg} fail, ${VAR:+r} / ${VAR+r} substitute r when set (and
// non-empty). Defaults may contain further substitutions. Any other `$` is an invalid template.
// Only values are interpolated, never keys.

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;

class TemplateError extends Error {}

/** The index of the `}` closing the `${` whose body starts at `start`, or -1. */
function closingBrace(text, start) {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') {
      i++;
    } else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}' && --depth === 0) {
      return i;
    }
  }
  return -1;
}

function substituteBraced(body, env, warnings, original) {
  const name = NAME.exec(body)?.[0];
  if (!name) throw new TemplateError(`invalid interpolation format in "${original}"`);
  const rest = body.slice(name.length);
  const value = env[name];
  const isSet = value !== undefined;
  const nonEmpty = isSet && value !== '';
  if (rest === '') {
    if (!isSet) warnings.add(`The "${name}" variable is not set. Defaulting to a blank string.`);
    return value ?? '';
  }
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
  if (!op) throw new TemplateError(`invalid interpolation format in "${original}"`);
  const arg = () => interpolateString(rest.slice(op.length), env, warnings);
  switch (op) {
    case ':-':
      return nonEmpty ? value : arg();
    case '-':
      return isSet ? value : arg();
    case ':?':
    case '?':
      if (op === ':?' ? nonEmpty : isSet) return value;
      throw new TemplateError(
        `required variable ${name} is missing a value${rest.length > 2 ? `: ${arg()}` : ''}`,
      );
    case ':+':
      return nonEmpty ? arg() : '';
    default:
      return isSet ? arg() : '';
  }
}

export function interpolateString(text, env, warnings = new Set()) {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new TemplateError(`invalid interpolation format in "${text}"`);
      out += substituteBraced(text.slice(i + 2, end), env, warnings, text);
      i = end;
    } else {
      const name = NAME.exec(text.slice(i + 1))?.[0];
      if (!name) throw new TemplateError(`invalid interpolation format in "${text}"`);
      if (env[name] === undefined) {
        warnings.add(`The "${name}" variable is not set. Defaulting to a blank string.`);
      }
      out += env[name] ?? '';
      i += name.length;
    }
  }
  return out;
}

/** Interpolates every string value of `value`; problems are pushed as { path, message }. */
function interpolate(value, env, path, warnings, problems) {
  if (typeof value === 'string') {
    try {
      return interpolateString(value, env, warnings);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      problems.push({ path, message: e.message });
      return value;
    }
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => interpolate(v, env, [...path, i], warnings, problems));
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        interpolate(v, env, [...path, k], warnings, problems),
      ]),
    );
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Schema errors, made readable: ajv reports every failed branch of a oneOf. Keep the branch that
// got furthest: a type mismatch at a path is dropped when something at or below that path failed
// for another reason (that branch had the right type); the remaining type mismatches at one path
// are merged ("must be string or array").

function pointerToPath(pointer) {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isUnder(path, prefix) {
  return path.length >= prefix.length && prefix.every((p, i) => String(path[i]) === String(p));
}

function schemaProblems(errors) {
  const all = errors.map((e) => ({ ...e, path: pointerToPath(e.instancePath) }));
  const kept = all.filter((e) => {
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf') {
      return !all.some((o) => o !== e && isUnder(o.path, e.path) && o.keyword !== e.keyword);
    }
    if (e.keyword === 'type') {
      return !all.some(
        (o) =>
          o.keyword !== 'type' &&
          o.keyword !== 'oneOf' &&
          o.keyword !== 'anyOf' &&
          isUnder(o.path, e.path),
      );
    }
    return true;
  });
  const problems = [];
  const types = new Map();
  for (const e of kept) {
    if (e.keyword === 'type') {
      const key = JSON.stringify(e.path);
      if (!types.has(key)) {
        types.set(key, { path: e.path, types: new Set() });
        problems.push(types.get(key));
      }
      for (const t of String(e.params.type).split(',')) types.get(key).types.add(t);
    } else if (e.keyword === 'additionalProperties') {
      const key = e.params.additionalProperty;
      problems.push({ path: [...e.path, key], key: true, message: `unknown key "${key}"` });
    } else if (e.keyword === 'required') {
      problems.push({
        path: e.path,
        message: `missing required key "${e.params.missingProperty}"`,
      });
    } else if (e.keyword === 'enum') {
      problems.push({
        path: e.path,
        message: `must be one of: ${e.params.allowedValues.join(', ')}`,
      });
    } else {
      problems.push({ path: e.path, message: e.message ?? e.keyword });
    }
  }
  for (const p of problems) {
    if (p.types) {
      const list = [...p.types];
      p.message = `must be ${list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list.at(-1)}` : list[0]}`;
      delete p.types;
    }
  }
  const seen = new Set();
  return problems.filter((p) => {
    const key = JSON.stringify([p.path, p.message]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Rules beyond the schema.

/** The tag and digest of an image reference (`[registry[:port]/]name[:tag][@digest]`). */
export function imageTag(reference) {
  const [name, digest] = reference.split('@');
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  return { tag: colon >= 0 ? name.slice(colon + 1) : undefined, digest };
}

/** [index, name] of a list of names, [name, name] of a mapping keyed by name. */
function entriesOf(listOrMap) {
  if (Array.isArray(listOrMap)) {
    return listOrMap.flatMap((v, i) => (typeof v === 'string' ? [[i, v]] : []));
  }
  if (listOrMap && typeof listOrMap === 'object') return Object.keys(listOrMap).map((k) => [k, k]);
  return [];
}

function namesOf(listOrMap) {
  if (Array.isArray(listOrMap)) return listOrMap.filter((v) => typeof v === 'string');
  if (listOrMap && typeof listOrMap === 'object') return Object.keys(listOrMap);
  return [];
}

function ruleProblems(config) {
  const problems = [];
  if (!config || typeof config !== 'object' || Array.isArray(config)) return problems;
  if ('version' in config) {
    problems.push({
      path: ['version'],
      key: true,
      message: 'obsolete: Compose ignores the version key (and warns about it); remove it',
    });
  }
  const services = config.services && typeof config.services === 'object' ? config.services : {};
  const declaredVolumes = new Set(namesOf(config.volumes));
  const declaredNetworks = new Set(['default', ...namesOf(config.networks)]);
  for (const [name, service] of Object.entries(services)) {
    if (!service || typeof service !== 'object') continue;
    const at = (...rest) => ['services', name, ...rest];
    if (typeof service.image === 'string') {
      const { tag, digest } = imageTag(service.image);
      if (service.image === '') {
        problems.push({ path: at('image'), message: 'is empty' });
      } else if (!tag && !digest) {
        problems.push({
          path: at('image'),
          message: `"${service.image}" has no tag: pin a version (name:1.2.3) or a digest`,
        });
      } else if (!digest && FLOATING_TAGS.has(tag.toLowerCase())) {
        problems.push({
          path: at('image'),
          message: `"${service.image}" uses the floating tag "${tag}": pin a version or a digest`,
        });
      }
    } else if (!service.build && !service.provider && !service.extends) {
      problems.push({ path: at(), message: 'has neither an image nor a build' });
    }
    for (const [index, dependency] of entriesOf(service.depends_on)) {
      if (!(dependency in services)) {
        problems.push({
          path: at('depends_on', index),
          key: !Array.isArray(service.depends_on),
          message: `depends on undefined service "${dependency}"`,
        });
      }
    }
    (Array.isArray(service.volumes) ? service.volumes : []).forEach((volume, i) => {
      const source =
        typeof volume === 'string'
          ? volume.includes(':')
            ? volume.slice(0, volume.indexOf(':'))
            : undefined
          : volume && (volume.type ?? 'volume') === 'volume'
            ? volume.source
            : undefined;
      // A path (./x, /x, ~/x) is a bind mount; a bare name is a named volume.
      if (source && !/^[./~]/.test(source) && !declaredVolumes.has(source)) {
        problems.push({
          path: at('volumes', i),
          message: `named volume "${source}" is not declared under the top-level volumes`,
        });
      }
    });
    for (const [index, network] of entriesOf(service.networks)) {
      if (!declaredNetworks.has(network)) {
        problems.push({
          path: at('networks', index),
          key: !Array.isArray(service.networks),
          message: `network "${network}" is not declared under the top-level networks`,
        });
      }
    }
  }
  return problems;
}

/**
 * A bind mount of a relative path (`./docker/nginx.conf:/etc/…`) whose source does not exist:
 * Docker would create an empty directory in its place, and the container would fail obscurely.
 */
function bindMountProblems(config, baseDir) {
  const problems = [];
  const services = config?.services && typeof config.services === 'object' ? config.services : {};
  for (const [name, service] of Object.entries(services)) {
    (Array.isArray(service?.volumes) ? service.volumes : []).forEach((volume, i) => {
      const source =
        typeof volume === 'string'
          ? volume.includes(':')
            ? volume.slice(0, volume.indexOf(':'))
            : undefined
          : volume?.type === 'bind'
            ? volume.source
            : undefined;
      if (typeof source === 'string' && /^\.\.?\//.test(source)) {
        if (!existsSync(join(baseDir, source))) {
          problems.push({
            path: ['services', name, 'volumes', i],
            message: `bind mount source "${source}" does not exist (relative to the file's folder)`,
          });
        }
      }
    });
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Locations and output.

/**
 * The pair of `map` whose key is `name`, looked for in the mappings it merges (`<<: *anchor`)
 * when the map itself has no such key: a problem in a merged value is where its text is.
 */
function findPair(doc, map, name, seen = new Set()) {
  if (seen.has(map)) return undefined;
  seen.add(map);
  const isMerge = (key) => isScalar(key) && (key.source ?? key.value) === '<<';
  const own = map.items.find(
    (p) => isScalar(p.key) && !isMerge(p.key) && String(p.key.value) === String(name),
  );
  if (own) return own;
  // With merge keys on, `<<` parses as a scalar whose value is a symbol; its source is `<<`.
  for (const merge of map.items.filter((p) => isMerge(p.key))) {
    const sources = isSeq(merge.value) ? merge.value.items : [merge.value];
    for (const source of sources) {
      const resolved = isAlias(source) ? source.resolve(doc) : source;
      const found = isMap(resolved) ? findPair(doc, resolved, name, seen) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

/** Offset of the node at `path` in the YAML document (its key when `key`), or the closest parent. */
function locate(doc, path, key) {
  let node = doc.contents;
  let offset = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    let next;
    if (isMap(node)) {
      const pair = findPair(doc, node, path[i]);
      if (!pair) break;
      if (key && i === path.length - 1) return pair.key?.range?.[0] ?? offset;
      next = pair.value;
    } else if (isSeq(node)) {
      next = node.items[Number(path[i])];
    }
    if (!next?.range) break;
    node = next;
    offset = node.range[0];
  }
  return offset;
}

function formatPath(path) {
  if (path.length === 0) return '(top level)';
  return path
    .map((p, i) =>
      typeof p === 'number' || /^\d+$/.test(p)
        ? `[${p}]`
        : /^[A-Za-z0-9_-]+$/.test(p)
          ? `${i ? '.' : ''}${p}`
          : `[${JSON.stringify(p)}]`,
    )
    .join('');
}

/** Checks one file; returns { problems: string[], warnings: string[] }. */
export function checkComposeFile(file, env = {}) {
  const source = readFileSync(file, 'utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { merge: true, lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const message = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return `${file}:${pos ? `${pos.line}:${pos.col}` : '1:1'}: invalid YAML: ${message}`;
      }),
      warnings: [],
    };
  }
  const raw = doc.toJS({ maxAliasCount: 1000 });
  const warnings = new Set();
  const found = [];
  const config = interpolate(raw, env, [], warnings, found);
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    found.push({ path: [], message: 'must be a mapping (services: …)' });
  } else if (!validate(config)) {
    found.push(...schemaProblems(validate.errors ?? []));
  }
  found.push(...ruleProblems(config));
  found.push(...bindMountProblems(config, dirname(resolve(file))));
  // A value merged into several services (`<<: *anchor`) is reported once, where its text is,
  // under the first path that reaches it (the anchor's own, when it is declared first).
  const seen = new Set();
  const problems = found
    .map((p) => ({ ...p, ...lineCounter.linePos(locate(doc, p.path, p.key)) }))
    .sort((a, b) => a.line - b.line || a.col - b.col)
    .filter((p) => {
      const at = `${p.line}:${p.col}: ${p.message}`;
      if (seen.has(at)) return false;
      seen.add(at);
      return true;
    })
    .map((p) => `${file}:${p.line}:${p.col}: ${formatPath(p.path)}: ${p.message}`);
  return { problems, warnings: [...warnings] };
}

// ---------------------------------------------------------------------------------------------

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const files = process.argv.slice(2);
  let failed = false;
  for (const file of files.length ? files : ['docker-compose.yml']) {
    let result;
    try {
      result = checkComposeFile(file);
    } catch (e) {
      result = { problems: [`${file}: ${e.message}`], warnings: [] };
    }
    for (const w of result.warnings) console.error(`${file}: warning: ${w}`);
    if (result.problems.length > 0) {
      failed = true;
      console.error(result.problems.join('\n'));
      console.error(`${file}: ${result.problems.length} problem(s)`);
    } else {
      console.log(
        `${file}: valid (Compose Specification schema from dclint ${schemaVersion}, with no environment; project rules)`,
      );
    }
  }
  process.exit(failed ? 1 : 0);
}
