import { join, resolve } from 'node:path';
import {
  createParamDecorator,
  Injectable,
  type ExecutionContext,
  type PipeTransform,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { EnvironmentVariables } from '../config/env.validation';
import { readImageUpload, type ImageUpload } from './multipart-upload';

/** Where uploads are spooled while they are checked: `<DATA_DIR>/tmp/uploads`. */
export function uploadTempDir(env: EnvironmentVariables): string {
  return resolve(join(env.DATA_DIR, 'tmp', 'uploads'));
}

/** The raw request, for {@link ImageUploadPipe}. */
export const MultipartBody = createParamDecorator(
  (_: unknown, context: ExecutionContext): FastifyRequest => context.switchToHttp().getRequest(),
);

/** `@MultipartBody(ImageUploadPipe) upload: ImageUpload`: the streamed, validated upload. */
@Injectable()
export class ImageUploadPipe implements PipeTransform<FastifyRequest, Promise<ImageUpload>> {
  private readonly tmpDir: string;

  constructor(env: EnvironmentVariables) {
    this.tmpDir = uploadTempDir(env);
  }

  transform(request: FastifyRequest): Promise<ImageUpload> {
    return readImageUpload(request, this.tmpDir);
  }
}
