import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { RequestContext } from '../../auth/principal';
import { AppError } from '../../common/errors/app.error';
import { encodeCursor } from '../../common/pagination/cursor';
import { StorageDeletionsService } from '../../storage/storage-deletions.service';
import {
  StandaloneImageDto,
  type ListStandaloneImagesQueryDto,
  type StandaloneImagePageDto,
  type UpdateStandaloneImageDto,
} from '../dto/standalone-image.dto';
import type { Image } from '../entities/image.entity';
import { ResponsiveImages } from '../delivery/responsive-images';
import { ImageFilesService } from '../image-files.service';
import { StandaloneImagesRepository } from './standalone-images.repository';

/**
 * Stand-alone images as the organisation's assets (`/api/v1/images`): list, read, edit, delete.
 * An image in a gallery is not one of them (its gallery's routes serve it), and neither is an
 * upload past its `expires_at`, which is gone whether or not the sweep has run yet.
 */
@Injectable()
export class StandaloneImagesService {
  constructor(
    private readonly files: ImageFilesService,
    private readonly deletions: StorageDeletionsService,
    private readonly dataSource: DataSource,
    private readonly repository: StandaloneImagesRepository,
    private readonly responsive: ResponsiveImages,
  ) {}

  /** Newest first, by keyset (see StandaloneImagesRepository.listIds). */
  async list(
    ctx: RequestContext,
    query: ListStandaloneImagesQueryDto,
  ): Promise<StandaloneImagePageDto> {
    const found = await this.repository.listIds(ctx, query);
    const listed = found.slice(0, query.limit);
    const page = await this.repository.findInOrder(
      ctx,
      listed.map((row) => row.id),
    );
    const last = listed[listed.length - 1];
    return {
      items: await Promise.all(page.map((image) => this.present(image))),
      next_cursor:
        found.length > query.limit && last
          ? encodeCursor({ createdAt: new Date(last.created_at), id: last.id }, 'images')
          : null,
    };
  }

  async get(ctx: RequestContext, imageId: string): Promise<StandaloneImageDto> {
    return this.present(await this.find(ctx, imageId));
  }

  /** Title, alt text and description; what is left out stays. */
  async update(
    ctx: RequestContext,
    imageId: string,
    dto: UpdateStandaloneImageDto,
  ): Promise<StandaloneImageDto> {
    const image = await this.dataSource.transaction(async (manager) => {
      // Locked, so an attach running now either comes first (then this is 404) or waits.
      const image = await this.find(ctx, imageId, manager);
      if (dto.title !== undefined) image.title = dto.title;
      if (dto.alt_text !== undefined) image.altText = dto.alt_text;
      if (dto.description !== undefined) image.description = dto.description;
      return this.repository.save(manager, image);
    });
    return this.present(image);
  }

  /**
   * Deletes the row and queues its files for deletion in the same transaction; they are deleted
   * right after the commit, before the answer, and the job retries whatever fails (as a gallery
   * deletion does).
   */
  async remove(ctx: RequestContext, imageId: string): Promise<void> {
    const released = await this.dataSource.transaction(async (manager) => {
      const image = await this.find(ctx, imageId, manager);
      await this.repository.delete(manager, image.id);
      const keys = this.files.keysOf(image);
      await this.deletions.enqueue(manager, keys, ctx.organizationId);
      return keys;
    });
    await this.deletions.afterRemoval(released);
  }

  /** The stand-alone image, or 404; locked when read in a transaction (`manager`). */
  private async find(
    ctx: RequestContext,
    imageId: string,
    manager?: EntityManager,
  ): Promise<Image> {
    const image = await this.repository.findAlive(ctx, imageId, { manager, lock: !!manager });
    if (!image) {
      throw new AppError(
        'image_not_found',
        'No stand-alone image with this id in your organisation.',
      );
    }
    return image;
  }

  private async present(image: Image): Promise<StandaloneImageDto> {
    return StandaloneImageDto.from(
      image,
      await this.files.urls(image),
      await this.responsive.of(image),
    );
  }
}
