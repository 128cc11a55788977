import type { FastifyRequest } from 'fastify';
import { errorsShapedBy, type OwnErrorShape } from '../../common/errors/problem-details.filter';
import type { Problem } from '../../common/errors/problem-details';
import { inventorumError } from './inventorum-error';
import { imageFieldFor } from './inventorum-form';
import { formNotesOf } from './inventorum-upload.pipe';

/**
 * Inventorum's routes answer the errors about the request they read (400, 413) in Inventorum's
 * envelope (see inventorumError), wherever they are raised: in the route, or before it, as the
 * body is read (a JSON body too deep, not JSON, too large); everything else is left to the
 * service's problem+json.
 */
export function inventorumErrorShape(
  problem: Problem,
  request: FastifyRequest,
): OwnErrorShape | undefined {
  const body = inventorumError(problem, {
    imageField: imageFieldFor(request.headers['x-api-version']),
    imageSentAsText: formNotesOf(request).imageSentAsText,
  });
  return body && { body, contentType: 'application/json; charset=utf-8' };
}

/** The route config of Inventorum's routes: their errors in its envelope. */
export const INVENTORUM_ERRORS = errorsShapedBy(inventorumErrorShape);
