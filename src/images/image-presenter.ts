import { Injectable } from '@nestjs/common';
import { encodeShortId } from '../common/ids/short-id';
import { retryOnLostConnection } from '../database/lost-connection-retry';
import { ImageDto, type UploaderDto } from './dto/image.dto';
import type { Image } from './entities/image.entity';
import { ResponsiveImages } from './delivery/responsive-images';
import { ImageFilesService } from './image-files.service';
import { ImageUploadersRepository } from './image-uploaders.repository';

/**
 * Images as API resources, with their URLs, responsive srcsets and uploaders (one query for a
 * whole list).
 */
@Injectable()
export class ImagePresenter {
  constructor(
    private readonly uploaders: ImageUploadersRepository,
    private readonly files: ImageFilesService,
    private readonly responsive: ResponsiveImages,
  ) {}

  async one(image: Image): Promise<ImageDto> {
    const [dto] = await this.many([image]);
    return dto;
  }

  async many(images: Image[]): Promise<ImageDto[]> {
    const ids = [...new Set(images.map((i) => i.uploadedById).filter((id): id is string => !!id))];
    // Read again after a lost connection: an upload presents its image after its commit, and a
    // 503 then would have its client do again what is done.
    const users = await retryOnLostConnection(() => this.uploaders.findByIds(ids));
    const uploaders = new Map<string, UploaderDto>(
      users.map((u) => [
        u.id,
        { id: encodeShortId(u.id), username: u.username, full_name: u.fullName },
      ]),
    );
    const urls = await Promise.all(images.map((image) => this.files.urls(image)));
    const responsive = await Promise.all(images.map((image) => this.responsive.of(image)));
    return images.map((image, i) =>
      ImageDto.from(
        image,
        urls[i],
        image.uploadedById ? (uploaders.get(image.uploadedById) ?? null) : null,
        responsive[i],
      ),
    );
  }
}
