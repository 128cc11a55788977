// Jest transform: @swc/jest for every file, except the DTOs and controllers, which are compiled by
// TypeScript with the @nestjs/swagger CLI plugin exactly as `nest build` compiles them (same
// plugin, same options from nest-cli.json). Without this, a document built under Jest lacks what
// the plugin adds (undecorated DTO properties, comments, class-validator limits, response types)
// and differs from the one the service serves.
//
// The plugin needs the type checker, so the first such file a Jest worker transforms builds one
// TypeScript program over tsconfig.build.json (a few seconds); results are cached by Jest, keyed
// on every source file, since a DTO's metadata depends on the types it imports.
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS module loaded by Jest */
'use strict';

const { createHash } = require('node:crypto');
const { readFileSync, readdirSync, statSync } = require('node:fs');
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

/** A fingerprint of everything a plugin-compiled file may depend on. */
function inputsFingerprint() {
  const hash = createHash('sha256');
  for (const file of [TSCONFIG, NEST_CLI, join(ROOT, 'package-lock.json'), ...sourceFiles(SRC)]) {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat) continue;
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
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

function compileWithPlugin(filename) {
  const { program, before } = compilerFor(inputsFingerprint());
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
  return { code };
}

module.exports = {
  createTransformer(swcOptions) {
    const swc = swcJest.createTransformer(swcOptions);
    return {
      canInstrument: swc.canInstrument,
      process(src, filename, jestOptions) {
        if (isPluginFile(filename)) {
          const compiled = compileWithPlugin(filename);
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
