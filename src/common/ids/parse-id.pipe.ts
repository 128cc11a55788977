import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { AppError } from '../errors/app.error';
import { decodeId } from './short-id';

/** Path ids: a shortuuid or a canonical UUID becomes the UUID; anything else is 400 invalid_id. */
@Injectable()
export class ParseIdPipe implements PipeTransform<string, string> {
  transform(value: string, metadata: ArgumentMetadata): string {
    const uuid = decodeId(value);
    if (!uuid) {
      const field = metadata.data ?? 'id';
      throw new AppError('invalid_id', `"${field}" must be a 22-character id or a UUID.`, [
        { field, message: 'must be a 22-character id or a UUID' },
      ]);
    }
    return uuid;
  }
}
