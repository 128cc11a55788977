// Jest transform: @swc/jest for every file, except the DTOs and controllers, which are compiled by
// TypeScript with the @nestjs/swagger CLI plugin exactly as `nest build` compiles them (same
// plugin, same options from nest-cli.json). Without this, a document built under Jest lacks what
// the plugin adds (undecorated DTO properties, comments, class-validator limits, response types)
// and differs from the one the service serves.
//
// The plugin needs the type checker, so compiling such a file builds one TypeScript program over
// tsconfig.build.json (5-10 s). Results are keyed on every source file, since a DTO's metadata
// depends on the types it imports, and kept twice: by Jest, and in a store of this transform's own
// (<cacheDirectory>/nest-swagger-plugin/<fingerprint>/) that every worker reads. The global set-up
// fills the store (`node scripts/jest-transform.cjs --precompile <cacheDirectory>`, beside the
// database migrations) whenever the sources changed, so the workers build no program at all;
// without it (`jest src/…`) the first worker that needs a file compiles it and stores it.
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS module loaded by Jest */
'use strict';

const { createHash } = require('node:crypto');
const {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} = require('node:fs');
const { join, relative } = require('node:path');
const ts = require('typescript');
const swcJest = require('@swc/jest');

const ROOT = join(__dirname, '..');
const SRC = join(ROOT, 'src');
const TSCONFIG = join(ROOT, 'tsconfig.build.json');
const NEST_CLI = join(ROOT, 'nest-cli.json');

/** The plugin's options and file suffixes, as nest-cli.json gives them to `nest build`. */
function pluginOptions() {
  const cli = JSON.parse(readFileSync(NEST_CLI, 'utf8'));
  const entry = (cli.compilerOptions?.plugins ?? []).find(
    (p) => (typeof p === 'string' ? p : p.name) === '@nestjs/swagger',
  );
  if (!entry) return undefined;
  const options = typeof entry === 'string' ? {} : { ...(entry.options ?? {}) };
  return {
    options,
    dtoSuffixes: [].concat(options.dtoFileNameSuffix ?? ['.dto.ts', '.entity.ts']),
    controllerSuffixes: [].concat(options.controllerFileNameSuffix ?? ['.controller.ts']),
  };
}

const PLUGIN = pluginOptions();

function isPluginFile(filename) {
  if (!PLUGIN || !filename.startsWith(SRC + '/')) return false;
  return [...PLUGIN.dtoSuffixes, ...PLUGIN.controllerSuffixes].some((s) => filename.endsWith(s));
}

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Content digests of the inputs, recomputed only for files whose size or times changed. */
const digests = new Map(); // path → { stamp, digest }

function fileDigest(file) {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) return undefined;
  const stamp = `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  const known = digests.get(file);
  if (known?.stamp === stamp) return known.digest;
  const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
  digests.set(file, { stamp, digest });
  return digest;
}

/**
 * A fingerprint of everything a plugin-compiled file may depend on. Asked for every such file a
 * worker loads, so unchanged files are not read again (a few milliseconds instead of 50).
 */
function inputsFingerprint() {
  const hash = createHash('sha256');
  for (const file of [TSCONFIG, NEST_CLI, join(ROOT, 'package-lock.json'), ...sourceFiles(SRC)]) {
    const digest = fileDigest(file);
    if (digest === undefined) continue;
    hash.update(relative(ROOT, file)).update('\0').update(digest).update('\0');
  }
  return hash.digest('hex');
}

let compiler; // { fingerprint, program, before }

function compilerFor(fingerprint) {
  if (compiler?.fingerprint === fingerprint) return compiler;
  const parsed = ts.getParsedCommandLineOfConfigFile(TSCONFIG, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  const options = {
    ...parsed.options,
    noEmit: false,
    declaration: false,
    sourceMap: false,
    inlineSourceMap: true,
    inlineSources: true,
    incremental: false,
  };
  const program = ts.createProgram({ rootNames: parsed.fileNames, options });
  // ESM-only package, loaded through Node's require(esm).
  const { before } = require('@nestjs/swagger/plugin');
  compiler = { fingerprint, program, before: before({ ...PLUGIN.options }, program) };
  return compiler;
}

function emitWithPlugin(filename, fingerprint) {
  const { program, before } = compilerFor(fingerprint);
  const sourceFile = program.getSourceFile(filename);
  if (!sourceFile) return undefined;
  let code;
  const result = program.emit(
    sourceFile,
    (name, text) => {
      if (name.endsWith('.js')) code = text;
    },
    undefined,
    false,
    { before: [before] },
  );
  if (result.emitSkipped || code === undefined) {
    throw new Error(`TypeScript did not emit ${relative(ROOT, filename)}`);
  }
  return code;
}

const STORE = 'nest-swagger-plugin';
const COMPLETE = '.complete';

function storeOf(cacheDirectory, fingerprint) {
  return join(cacheDirectory, STORE, fingerprint.slice(0, 40));
}

function storedPath(store, filename) {
  return join(store, `${relative(SRC, filename).replaceAll('/', '__')}.js`);
}

/** Written under another name and renamed: a reader sees the whole file or none. */
function writeStored(path, code) {
  mkdirSync(join(path, '..'), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, code);
  renameSync(partial, path);
}

function readStored(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function compileWithPlugin(filename, cacheDirectory) {
  const fingerprint = inputsFingerprint();
  const path = cacheDirectory && storedPath(storeOf(cacheDirectory, fingerprint), filename);
  const stored = path && readStored(path);
  if (stored !== undefined) return { code: stored };
  const code = emitWithPlugin(filename, fingerprint);
  if (code === undefined) return undefined;
  if (path) writeStored(path, code);
  return { code };
}

/**
 * Compiles every plugin file of the current sources into the store, unless it holds them already,
 * and forgets the stores of older sources. Run by the global set-up as a child process.
 */
function precompile(cacheDirectory) {
  if (!PLUGIN) return;
  const fingerprint = inputsFingerprint();
  const store = storeOf(cacheDirectory, fingerprint);
  if (existsSync(join(store, COMPLETE))) return;
  for (const file of sourceFiles(SRC).filter(isPluginFile)) {
    const path = storedPath(store, file);
    if (existsSync(path)) continue;
    const code = emitWithPlugin(file, fingerprint);
    if (code !== undefined) writeStored(path, code);
  }
  writeStored(join(store, COMPLETE), `${new Date().toISOString()}\n`);
  for (const name of readdirSync(join(store, '..'))) {
    if (name !== fingerprint.slice(0, 40)) {
      rmSync(join(store, '..', name), { recursive: true, force: true });
    }
  }
}

if (require.main === module) {
  const [flag, cacheDirectory] = process.argv.slice(2);
  if (flag !== '--precompile' || !cacheDirectory) {
    console.error('usage: node scripts/jest-transform.cjs --precompile <jest cacheDirectory>');
    process.exit(2);
  }
  precompile(cacheDirectory);
}

module.exports = {
  createTransformer(swcOptions) {
    const swc = swcJest.createTransformer(swcOptions);
    return {
      canInstrument: swc.canInstrument,
      process(src, filename, jestOptions) {
        if (isPluginFile(filename)) {
          const compiled = compileWithPlugin(filename, jestOptions?.config?.cacheDirectory);
          if (compiled) return compiled;
        }
        return swc.process(src, filename, jestOptions);
      },
      getCacheKey(src, filename, ...rest) {
        const key = swc.getCacheKey(src, filename, ...rest);
        if (!isPluginFile(filename)) return key;
        return createHash('sha256')
          .update(key)
          .update('\0swagger-plugin\0')
          .update(JSON.stringify(PLUGIN.options))
          .update(ts.version)
          .update(inputsFingerprint())
          .digest('hex');
      },
    };
  },
};
