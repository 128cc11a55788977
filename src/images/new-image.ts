import type { RequestContext } from '../auth/principal';
import { ImagePurpose, ImageSource } from './entities/image.entity';
import type { StoredFiles } from './image-files.service';

/** The row of a newly stored image, less what its owner (a gallery, or none) decides. */
export function newImageRecord(
  ctx: RequestContext,
  id: string,
  files: StoredFiles,
  filename: string,
) {
  return {
    id,
    source: ImageSource.Upload,
    purpose: ImagePurpose.Product,
    title: '',
    altText: '',
    originalFilename: filename,
    ...files,
    uploadedById: ctx.principal.userId,
  };
}

export type NewImageRecord = ReturnType<typeof newImageRecord>;
