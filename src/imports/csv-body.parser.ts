import type { FastifyInstance } from 'fastify';
import { AppError } from '../common/errors/app.error';
import { BULK_IMPORT_BODY } from './import-body.pipe';

const CSV = 'text/csv';

/**
 * Lets `text/csv` bodies through to the bulk import route unread, as a stream for its pipe (see
 * ImportBodyPipe: it counts and parses them as they arrive). Every other route refuses them as
 * it refuses any type it does not take: 415.
 */
export function registerCsvBody(fastify: FastifyInstance): void {
  if (fastify.hasContentTypeParser(CSV)) return;
  fastify.addContentTypeParser(CSV, (request, payload, done) => {
    const config = request.routeOptions.config as { bulkImportBody?: boolean } | undefined;
    if (config?.bulkImportBody !== BULK_IMPORT_BODY.bulkImportBody) {
      done(new AppError('unsupported_media_type', `This route does not take ${CSV}.`), undefined);
      return;
    }
    done(null, payload);
  });
}
