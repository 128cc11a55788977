import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { ApiKey } from '../../auth/entities/api-key.entity';
import type { RequestContext } from '../../auth/principal';
import { AppError } from '../../common/errors/app.error';
import type { ErrorCode } from '../../common/errors/error-codes';
import { decodeId } from '../../common/ids/short-id';
import { retryOnLostConnection } from '../../database/lost-connection-retry';
import type { ImageDto } from '../../images/dto/image.dto';
import { Image } from '../../images/entities/image.entity';
import { ImagesService } from '../../images/images.service';
import type { ImageUpload } from '../../images/intake/multipart-upload';
import { ProductsService, type ProductRef } from '../../products/products.service';
import type { TokenApiImageDto } from './dto/token-api-image.dto';
import type { TokenApiUploadFieldsDto } from './dto/token-api-upload.dto';
import { toTokenApiImage, tokenApiUser } from './token-api-mapping';

/** What the lookup by external id answers when `product_id` is none of the organisation's. */
const NOT_AN_EXTERNAL_ID: readonly ErrorCode[] = ['product_not_found', 'invalid_external_id'];

/** The token API's order when none is sent (its document: 0). */
const DEFAULT_ORDER = 0;

/**
 * The token API ("Create Product Image") on the main API's services: the product named by the
 * caller's own id or by its id, the upload through ImagesService (every check, the storage and
 * the gallery rules are its own), and the answer in the token API's shape.
 */
@Injectable()
export class TokenApiService {
  constructor(
    private readonly images: ImagesService,
    private readonly products: ProductsService,
    @InjectRepository(Image) private readonly imageRows: Repository<Image>,
    @InjectRepository(ApiKey) private readonly apiKeys: Repository<ApiKey>,
  ) {}

  async upload(
    ctx: RequestContext,
    productId: string,
    upload: ImageUpload<TokenApiUploadFieldsDto>,
  ): Promise<TokenApiImageDto> {
    const product = await this.product(ctx, productId);
    const { alt_text, is_primary, order } = upload.fields;
    const image = await this.images
      .upload(ctx, product, {
        file: upload.file,
        fields: { alt_text, is_primary, priority: order ?? DEFAULT_ORDER },
      })
      .catch(inTokenApiTerms);
    // After the upload's commit: read again after a lost connection rather than answer 503 for
    // an image that is there (its client would upload it again).
    const numbers = await retryOnLostConnection(() => this.numbers(ctx, image));
    const keyName = image.uploaded_by
      ? null
      : await retryOnLostConnection(() => this.apiKeyName(ctx));
    return toTokenApiImage(
      image,
      numbers.image,
      tokenApiUser(image.uploaded_by, numbers.uploader, keyName),
    );
  }

  /**
   * The product `product_id` names: the caller's own id for it (`external_id`) first, since that
   * is what the token API's clients send (its document's `123`); else the product's id (22
   * characters or UUID). Neither: 404, as the token API answers an unknown product.
   *
   * An external id stays the reference (not the id of the product that has it now): the upload
   * finds its product by it when it commits, so an external id another writer moves to another
   * product while the image is processed names that product (README, "Work addressed by external
   * id"), and none that has it then is 404 `product_not_found`, as the main API answers.
   */
  private async product(ctx: RequestContext, productId: string): Promise<ProductRef> {
    try {
      await this.products.find(ctx, { externalId: productId });
      return { externalId: productId };
    } catch (error) {
      // Not an external id of the organisation's (or not one at all): perhaps an id.
      if (!(error instanceof AppError) || !NOT_AN_EXTERNAL_ID.includes(error.code)) throw error;
    }
    const id = decodeId(productId);
    if (!id) throw notFound();
    return { id };
  }

  /** The image's number and its uploader's (the token API's integer ids). */
  private async numbers(
    ctx: RequestContext,
    image: ImageDto,
  ): Promise<{ image: number; uploader: number | null }> {
    const row = await this.imageRows
      .createQueryBuilder('i')
      .leftJoin('i.uploadedBy', 'u')
      .select('i.number', 'image')
      .addSelect('u.number', 'uploader')
      .where('i.id = :id AND i.organization_id = :org', {
        id: decodeId(image.id),
        org: ctx.organizationId,
      })
      .getRawOne<{ image: string | number; uploader: string | number | null }>();
    // Deleted by someone else in the instant since it was added.
    if (!row) throw new AppError('image_not_found', 'The image was deleted meanwhile.');
    return {
      image: Number(row.image),
      uploader: row.uploader === null ? null : Number(row.uploader),
    };
  }

  /** The name of the API key that uploaded, for an upload that names no user. */
  private async apiKeyName(ctx: RequestContext): Promise<string | null> {
    if (ctx.principal.type !== 'api_key') return null;
    const key = await this.apiKeys.findOneBy(ctx.scoped({ id: ctx.principal.id }));
    return key?.name ?? null;
  }
}

/**
 * A product the upload did not find (an id no product has, or an external id gone when it
 * commits) said in the token API's terms: the main API's sentence names GTINs, which this API
 * never takes.
 */
function inTokenApiTerms(error: unknown): never {
  if (error instanceof AppError && error.code === 'product_not_found') throw notFound();
  throw error;
}

function notFound(): AppError {
  return new AppError(
    'product_not_found',
    'No product with this external id or id in your organisation.',
  );
}
