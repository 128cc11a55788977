import { Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { User } from '../auth/entities/user.entity';

/** Who uploaded an image, as images show it. */
export interface Uploader {
  id: string;
  username: string;
  fullName: string;
}

/**
 * The users who uploaded images, read through the DataSource (the users table is auth's: images/
 * only reads the three columns it shows, and registers no entity of auth's).
 */
@Injectable()
export class ImageUploadersRepository {
  constructor(private readonly dataSource: DataSource) {}

  async findByIds(ids: string[]): Promise<Uploader[]> {
    if (ids.length === 0) return [];
    return this.dataSource.manager.find(User, {
      select: { id: true, username: true, fullName: true },
      where: { id: In(ids) },
    });
  }
}
