import { AppError } from '../../../common/errors/app.error';
import { DataUriEmptyError, DataUriError, DataUriTooLargeError } from './data-uri';

/** 413 file_too_large for an image given in JSON, as a data URI or a URL. */
export function imageTooLarge(maxBytes: number): AppError {
  return new AppError(
    'file_too_large',
    `The image is larger than the upload limit (${maxBytes} bytes).`,
    [{ field: 'image', message: 'is larger than the upload limit' }],
  );
}

/** The answer to a data URI that could not be decoded; other errors are passed on as they are. */
export function dataUriProblem(error: unknown): unknown {
  if (error instanceof DataUriTooLargeError) return imageTooLarge(error.maxBytes);
  if (error instanceof DataUriEmptyError) {
    // As an empty multipart file is `image` "is empty", under the code this route documents.
    return new AppError('invalid_data_uri', 'The data URI holds no image: its payload is empty.', [
      { field: 'image', message: 'is empty' },
    ]);
  }
  if (error instanceof DataUriError) {
    return new AppError('invalid_data_uri', `The data URI is malformed: ${error.message}`, [
      { field: 'image', message: 'is not a valid data:image/<type>;base64 URI' },
    ]);
  }
  return error;
}
