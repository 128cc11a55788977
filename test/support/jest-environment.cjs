// Jest's node environment, with the test file's context made by
// vm.createContext(vm.constants.DONT_CONTEXTIFY) (Node 22.8+) instead of around a sandbox object.
//
// A contextified global answers every global look-up of the code running in it (`Math`,
// `Buffer`, `Object`, `Promise`, …: in the tests, Nest, TypeORM, pg and the service's own code)
// through Node's interceptors, about a microsecond each: 3 million `Math.imul` calls took 2.7 s
// in such a context and 9 ms in a vanilla one, and a 12 MB noise fixture 10 s instead of 0.24 s.
// A vanilla context's global is an ordinary object, which Jest fills in the same way (its
// constructor only sees a different object come back from createContext).
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS module loaded by Jest */
'use strict';

const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const vm = require('node:vm');
const { TestEnvironment } = require('jest-environment-node');

/**
 * V8's code cache for the modules a test file loads: Jest compiles each of them anew in every test
 * file's context (vm.compileFunction, which Node's own compile cache does not cover), and an
 * end-to-end file loads several thousand. The cache of a source is written the first time it is
 * compiled, under <cacheDirectory>/v8-code-cache/<Node version>/, keyed by the source's digest, and
 * handed to V8 on later compilations, which then skip parsing and compiling the top level.
 */
let codeCacheDir;
const compileFunction = vm.compileFunction;

function cachedCompileFunction(code, params, options) {
  if (!codeCacheDir || typeof code !== 'string' || options?.cachedData) {
    return compileFunction(code, params, options);
  }
  const key = createHash('sha1').update(code).update('\0').update(String(params)).digest('hex');
  const file = join(codeCacheDir, key.slice(0, 2), key);
  let cachedData;
  try {
    cachedData = readFileSync(file);
  } catch {
    cachedData = undefined;
  }
  const fn = compileFunction(code, params, {
    ...options,
    ...(cachedData ? { cachedData } : { produceCachedData: true }),
  });
  if (cachedData && fn.cachedDataRejected) {
    // Made by another V8 build or with other flags: written again on the next compilation.
    rmSync(file, { force: true });
  } else if (!cachedData && fn.cachedData) {
    try {
      mkdirSync(join(file, '..'), { recursive: true });
      const partial = `${file}.${process.pid}.partial`;
      writeFileSync(partial, fn.cachedData);
      renameSync(partial, file);
    } catch {
      // A cache that cannot be written is only slower.
    }
  }
  return fn;
}
vm.compileFunction = cachedCompileFunction;

class VanillaContextEnvironment extends TestEnvironment {
  constructor(config, context) {
    codeCacheDir ??= join(
      config.projectConfig.cacheDirectory,
      'v8-code-cache',
      `${process.version}-${process.arch}`,
    );
    const createContext = vm.createContext;
    vm.createContext = () => createContext(vm.constants.DONT_CONTEXTIFY);
    try {
      super(config, context);
    } finally {
      vm.createContext = createContext;
    }
    // What Jest's sandbox proxy did at teardown: forget what the test file put on its global, so
    // that a handle leaked from the file keeps less of it alive.
    this.initialGlobals = new Set(Reflect.ownKeys(this.global));
  }

  async teardown() {
    const global = this.global;
    if (global) {
      for (const key of Reflect.ownKeys(global)) {
        if (this.initialGlobals.has(key)) continue;
        const descriptor = Reflect.getOwnPropertyDescriptor(global, key);
        if (descriptor?.configurable) Reflect.deleteProperty(global, key);
      }
    }
    await super.teardown();
  }
}

module.exports = VanillaContextEnvironment;
