import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
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

/**
 * For a new image's row, in its transaction: `userId` if that user still exists, locked (FOR KEY
 * SHARE) until the transaction ends, so that deleting them waits for it and then clears the
 * uploader as it does on their other images; null when they are gone. A request authenticated
 * before its user was deleted (or through an API key whose creator was, which another
 * instance's key cache may still name for a few seconds) then stores its image with no uploader,
 * as the deletion would have left it, rather than failing on the foreign key.
 */
export async function uploaderStillThere(
  manager: EntityManager,
  userId: string | null | undefined,
): Promise<string | null> {
  if (!userId) return null;
  const [row] = await manager.query<{ id: string }[]>(
    'SELECT id FROM users WHERE id = $1 FOR KEY SHARE',
    [userId],
  );
  return row?.id ?? null;
}
