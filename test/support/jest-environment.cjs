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

const vm = require('node:vm');
const { TestEnvironment } = require('jest-environment-node');

class VanillaContextEnvironment extends TestEnvironment {
  constructor(config, context) {
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
