import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { AppError } from '../errors/app.error';
import { readsPathOnly } from '../http/path-checks';
import { decodeId } from './short-id';

/** An id as a client sent it (shortuuid or UUID) as the UUID; otherwise 400 invalid_id on `field`. */
export function parseId(value: string | undefined, field: string): string {
  const uuid = decodeId(value ?? '');
  if (!uuid) {
    throw new AppError('invalid_id', `"${field}" must be a 22-character id or a UUID.`, [
      { field, message: 'must be a 22-character id or a UUID' },
    ]);
  }
  return uuid;
}

/** Path ids: a shortuuid or a canonical UUID becomes the UUID; anything else is 400 invalid_id. */
@Injectable()
export class ParseIdPipe implements PipeTransform<string, string> {
  transform(value: string, metadata: ArgumentMetadata): string {
    return parseId(value, metadata.data ?? 'id');
  }
}

// Checked before a JSON body is invited (Expect: 100-continue), as the handler checks it.
readsPathOnly(ParseIdPipe);
