import { Reflector } from '@nestjs/core';
import { routeAccessOf, sameAccess } from '../auth/route-access';
import { POSTER_ACCESS } from './import-worker.service';
import { ImportsController } from './imports.controller';

describe('POSTER_ACCESS', () => {
  it('is what posting or retrying an import takes, as the routes declare it', () => {
    const reflector = new Reflector();
    for (const handler of [
      ImportsController.prototype.createImport,
      ImportsController.prototype.retryImport,
    ]) {
      const access = routeAccessOf(reflector, handler, ImportsController);
      expect(sameAccess(access, POSTER_ACCESS)).toBe(true);
    }
  });
});
