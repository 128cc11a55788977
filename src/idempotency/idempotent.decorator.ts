import { applyDecorators, SetMetadata, UseFilters, UseInterceptors } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { ApiProblems } from '../openapi/problems';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency.service';
import { RECORD_AS, type RecordAs } from './idempotent-attempt';
import { IdempotentReplayFilter } from './idempotent-replay.filter';

const HEADER_DOC = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Makes a retry of this request safe (the IETF Idempotency-Key draft): a unique value of ' +
    'your choosing (a UUID), sent again with each retry of the same request. A retry within ' +
    'IDEMPOTENCY_KEY_TTL_HOURS (24 h) gets the first answer again (status, body, Location) ' +
    'without the work being done twice, also from another instance; answers of 500 and up, 412 ' +
    'and 415 are not kept, so a retry after one does the work, unless the work was done and only ' +
    'its answer failed: that key answers 409 idempotent_answer_lost (read the resource to see ' +
    'the result). Keys are per caller (user or API key). ' +
    '409 idempotency_key_in_use (with Retry-After) while the first request is still in ' +
    'progress; 422 idempotency_key_reused when the key came with another request (route or ' +
    'payload). A JSON body is compared byte for byte; a multipart upload by its fields and ' +
    "its file's bytes; a CSV by its rows.",
  schema: {
    type: 'string' as const,
    minLength: 1,
    maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
    pattern: '^[\\x20-\\x7e]+$',
  },
};

/**
 * How a route's answers are kept for retries, when not as they are: `recordAs` rewrites each one
 * before it is recorded (see RecordAs), and `replay` says in OpenAPI what a retry then gets.
 */
export interface IdempotentOptions {
  recordAs: RecordAs;
  replay: string;
}

/**
 * The route takes an `Idempotency-Key` (see IdempotencyService), documented in OpenAPI with the
 * problems it adds. A route whose body is multipart or CSV also puts IdempotentUpload or
 * IdempotentRows after its body pipe, which admit the key once the payload is known.
 */
export function Idempotent(options?: IdempotentOptions): MethodDecorator {
  const header = options
    ? { ...HEADER_DOC, description: `${HEADER_DOC.description} ${options.replay}` }
    : HEADER_DOC;
  return applyDecorators(
    UseInterceptors(IdempotencyInterceptor),
    UseFilters(IdempotentReplayFilter),
    ...(options ? [SetMetadata(RECORD_AS, options.recordAs)] : []),
    ApiHeader(header),
    ApiProblems(
      'invalid_idempotency_key',
      'idempotency_key_in_use',
      'idempotency_key_reused',
      'idempotent_answer_lost',
    ),
  );
}
