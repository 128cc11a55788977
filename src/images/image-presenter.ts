import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { User } from '../auth/entities/user.entity';
import { encodeShortId } from '../common/ids/short-id';
import { STORAGE_PROVIDER, type StorageProvider } from '../storage/storage-provider';
import { ImageDto, type UploaderDto } from './dto/image.dto';
import type { Image } from './entities/image.entity';
import { imageUrls } from './image-urls';

/** Images as API resources, with their URLs and uploaders (one query for a whole list). */
@Injectable()
export class ImagePresenter {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
  ) {}

  async one(image: Image): Promise<ImageDto> {
    const [dto] = await this.many([image]);
    return dto;
  }

  async many(images: Image[]): Promise<ImageDto[]> {
    const ids = [...new Set(images.map((i) => i.uploadedById).filter((id): id is string => !!id))];
    const users = ids.length > 0 ? await this.users.findBy({ id: In(ids) }) : [];
    const uploaders = new Map<string, UploaderDto>(
      users.map((u) => [
        u.id,
        { id: encodeShortId(u.id), username: u.username, full_name: u.fullName },
      ]),
    );
    return Promise.all(
      images.map(async (image) =>
        ImageDto.from(
          image,
          await imageUrls(image, this.storage),
          image.uploadedById ? (uploaders.get(image.uploadedById) ?? null) : null,
        ),
      ),
    );
  }
}
