import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { RequestContext } from '../../auth/principal';
import { AppError } from '../../common/errors/app.error';
import { decodeId } from '../../common/ids/short-id';
import type { Product } from '../../products/entities/product.entity';
import { ProductsService, type ProductRef } from '../../products/products.service';
import { StorageDeletionsService } from '../../storage/storage-deletions.service';
import {
  MAX_GALLERY_PAGE_DEPTH,
  type GalleryDto,
  type GalleryPageDto,
  type GalleryQueryDto,
  type UpdateImageDto,
} from '../dto/gallery.dto';
import { MAX_PRIORITY } from '../dto/gallery.dto';
import type { ImageDto } from '../dto/image.dto';
import { ImagePurpose, type Image } from '../entities/image.entity';
import { ImageFilesService } from '../image-files.service';
import { ImagePresenter } from '../image-presenter';
import { uploaderStillThere } from '../image-uploaders.repository';
import { decodeGalleryCursor, encodeGalleryCursor, invalidGalleryCursor } from './gallery-cursor';
import { GalleryRepository, type GalleryHead, type GalleryRange } from './gallery.repository';

/** An image about to join a gallery: what the gallery decides is left out. */
export type NewImage = Omit<
  Image,
  | 'productId'
  | 'organizationId'
  | 'isPrimary'
  | 'priority'
  | 'number'
  | 'description'
  | 'expiresAt'
  | 'createdAt'
  | 'updatedAt'
> &
  Partial<Pick<Image, 'description'>>;

/** The text of an image a client may give when it joins a gallery. */
export interface ImageText {
  title?: string;
  altText?: string;
  description?: string;
}

export interface Placement {
  isPrimary?: boolean;
  priority?: number;
}

/** The versions a client's If-Match accepts; undefined when it sent none (or `*`). */
export type ExpectedVersions = number[] | undefined;

/** What a caller records in the transaction that adds an image (a bulk import: its row's `ok`). */
export type AlsoRecord = (manager: EntityManager) => Promise<void>;

/** An image that joined a gallery, and the gallery's version (its ETag) after it did. */
export interface AddedImage {
  image: ImageDto;
  version: number;
}

/** How an image joins: the gallery versions the client's If-Match accepts; what commits with it. */
export interface AddOptions {
  expected?: ExpectedVersions;
  alsoRecord?: AlsoRecord;
  /**
   * The product the image's files were stored for (their keys name it): another one found by the
   * reference when the image joins (its GTIN or external id moved meanwhile) is refused with
   * {@link ProductMoved}, nothing written, so that the files are stored again under its id.
   */
  storedFor?: string;
}

/** See AddOptions.storedFor: the product the reference names now. Not an answer: never leaves. */
export class ProductMoved extends Error {
  constructor(readonly productId: string) {
    super('The reference names another product than the one the files were stored for.');
  }
}

/** What a gallery change did to the number of images in the gallery (added minus removed). */
interface ImageTally {
  imageCountDelta: number;
  /** Set by a change that found nothing to change: the gallery keeps its version. */
  unchanged?: boolean;
}

/** Whether `dto` would change `image`: a field given with another value, or a new primary. */
function changesImage(image: Image, dto: UpdateImageDto): boolean {
  const differs = <T>(given: T | undefined, current: T) => given !== undefined && given !== current;
  return (
    (dto.is_primary === true && !image.isPrimary) ||
    differs(dto.title, image.title) ||
    differs(dto.alt_text, image.altText) ||
    differs(dto.description, image.description) ||
    differs(dto.priority, image.priority)
  );
}

/** 412: the gallery is at a version the client's If-Match does not name. */
export function galleryChanged(currentVersion: number): AppError {
  return new AppError(
    'gallery_changed',
    'The gallery changed since you read it: fetch it again, then retry with the new ETag.',
    [],
    {},
    { current_version: currentVersion },
  );
}

/**
 * A product's gallery: list, read, edit, reorder, delete, add. Every change runs in one transaction
 * that first locks the product row, so concurrent edits serialise instead of failing; checks the
 * client's If-Match against the gallery version; and bumps that version. The database's partial
 * unique index guarantees at most one primary whatever happens; these rules keep exactly one.
 */
@Injectable()
export class GalleryService {
  constructor(
    private readonly products: ProductsService,
    private readonly presenter: ImagePresenter,
    private readonly deletions: StorageDeletionsService,
    private readonly dataSource: DataSource,
    private readonly repository: GalleryRepository,
    private readonly files: ImageFilesService,
  ) {}

  /**
   * A page of the gallery, by number (at most {@link MAX_GALLERY_PAGE_DEPTH} images deep) or after
   * a cursor (read from the index at any depth), if the gallery is at a version `expected` names
   * (the If-Match of a client walking the pages; 412 gallery_changed if not). Its total is the
   * product's kept image count: nothing is counted per request.
   */
  async list(
    ctx: RequestContext,
    ref: ProductRef,
    query: GalleryQueryDto,
    expected?: ExpectedVersions,
  ): Promise<GalleryPageDto> {
    // Checked first: a bad cursor or a page too deep is a 400 without a query. An empty cursor
    // (`?cursor=`, a client's template left blank) is none, as on every other list.
    const cursor = query.cursor || undefined;
    if (cursor === undefined) checkPageDepth(query);
    const walk = cursor === undefined ? undefined : decodeGalleryCursor(cursor);
    const range = { after: walk?.position, offset: query.offset, limit: query.per_page + 1 };
    const { product, rows } = await this.productAndPage(ctx, ref, range);
    // Another product's cursor would start this gallery at some position, skipping what is before.
    if (walk && walk.productId !== product.id) throw invalidGalleryCursor();
    // A walk through the pages that names the first page's version: the order it walks is gone.
    if (expected && !expected.includes(product.galleryVersion)) {
      throw galleryChanged(product.galleryVersion);
    }
    const images = rows.slice(0, query.per_page);
    const last = images[images.length - 1];
    // By cursor: the page its first image is on at this per_page (the same page by number, when
    // the walk kept its per_page).
    const before = walk ? walk.before : query.offset;
    const next = before + images.length;
    return {
      page: walk ? Math.floor(before / query.per_page) + 1 : query.page,
      per_page: query.per_page,
      total: product.imageCount,
      items: await this.presenter.many(images),
      version: product.galleryVersion,
      next_cursor:
        rows.length > query.per_page && last
          ? encodeGalleryCursor({ position: last, before: next, productId: product.id })
          : null,
    };
  }

  /**
   * The product's gallery version and image count, and the rows of a page, read in one query, so
   * that the version and total describe the very rows answered. A product named by GTIN or
   * external id is found first (its id does not change); one that is not there (or deleted
   * meanwhile) is ProductsService's product_not_found.
   */
  private async productAndPage(
    ctx: RequestContext,
    ref: ProductRef,
    range: GalleryRange,
  ): Promise<{ product: GalleryHead; rows: Image[] }> {
    const productId = 'id' in ref ? ref.id : (await this.products.find(ctx, ref)).id;
    const read = await this.repository.readProductPage(ctx.organizationId, productId, range);
    if (read) return read;
    const product = await this.products.find(ctx, { id: productId });
    return { product, rows: await this.repository.readPage(product.id, range) };
  }

  /** One image of the gallery, as the API shows it. */
  async get(ctx: RequestContext, ref: ProductRef, imageId: string): Promise<ImageDto> {
    const product = await this.products.find(ctx, ref);
    const image = await this.repository.findOnProduct(ctx, product.id, imageId);
    if (!image) throw imageNotFound();
    return this.presenter.one(image);
  }

  async update(
    ctx: RequestContext,
    ref: ProductRef,
    imageId: string,
    dto: UpdateImageDto,
    expected: ExpectedVersions,
  ): Promise<{ image: ImageDto; version: number }> {
    const { result: image, version } = await this.change(
      ctx,
      ref,
      expected,
      async (manager, product, tally) => {
        // Before the image is read (see lockUploadersOf): a new primary writes two rows, and the
        // save writes back the uploader as read, which a deletion of the uploader meanwhile
        // would have cleared (a foreign key violation, a 500). Those of this image and the primary.
        await this.repository.lockUploadersOf(manager, product.id, imageId);
        const image = await this.findImage(manager, ctx, product, imageId);
        if (dto.is_primary === false && image.isPrimary) {
          throw new AppError(
            'primary_required',
            'A product with images always has a primary: make another image primary instead.',
            [{ field: 'is_primary', message: 'make another image primary instead' }],
          );
        }
        // Nothing to change (a form saved as it was): the ETag others hold stays current.
        if (!changesImage(image, dto)) {
          tally.unchanged = true;
          return image;
        }
        if (dto.is_primary === true && !image.isPrimary) {
          await this.repository.demotePrimary(manager, product.id);
          image.isPrimary = true;
        }
        if (dto.title !== undefined) image.title = dto.title;
        if (dto.alt_text !== undefined) image.altText = dto.alt_text;
        if (dto.description !== undefined) image.description = dto.description;
        if (dto.priority !== undefined) image.priority = dto.priority;
        return this.repository.save(manager, image);
      },
      (manager, product) => this.findImage(manager, ctx, product, imageId),
    );
    return { image: await this.presenter.one(image), version };
  }

  /** Priorities 0..n-1 in the given order; the list must name every image exactly once. */
  async reorder(
    ctx: RequestContext,
    ref: ProductRef,
    imageIds: string[],
    expected: ExpectedVersions,
  ): Promise<GalleryDto> {
    const uuids = imageIds.map((id, i) => {
      const uuid = decodeId(id);
      if (!uuid) {
        throw new AppError('invalid_image_order', `image_ids[${i}] is not an id.`, [
          { field: `image_ids.${i}`, message: 'is not an id' },
        ]);
      }
      return uuid;
    });
    // The new gallery is read in the same transaction, so it matches the version returned with it.
    const { result: images, version } = await this.change(
      ctx,
      ref,
      expected,
      async (manager, product, tally) => {
        checkPermutation(uuids, await this.repository.idsOf(manager, product.id));
        const whole = { offset: 0, limit: uuids.length };
        // The order the priorities give already: no change, the version stays (so the ETags
        // other editors hold stay current), and the priorities too, gaps and all (an upload's
        // own priority, a deleted image's): rewritten to 0..n-1, they counted as a change.
        const current = await this.repository.readPage(product.id, whole, manager);
        if (inPriorityOrder(current).every((image, i) => image.id === uuids[i])) {
          tally.unchanged = true;
          return current;
        }
        await this.repository.lockUploadersOf(manager, product.id);
        tally.unchanged = (await this.repository.setPriorities(manager, product.id, uuids)) === 0;
        return this.repository.readPage(product.id, whole, manager);
      },
    );
    // Presented after the commit: the presenter reads through its own connection. The whole
    // gallery is one page, as large as the list given (which names every image).
    return {
      page: 1,
      per_page: Math.max(1, uuids.length),
      total: images.length,
      items: await this.presenter.many(images),
      version,
    };
  }

  /**
   * Deletes the image row (promoting the next image when it was the primary) and queues its files
   * for deletion in the same transaction; they are deleted right after the commit, before the
   * answer (see StorageDeletionsService.afterRemoval), and the job retries whatever fails. No
   * listed image ever points at a missing file. Returns the gallery's new version.
   */
  async remove(
    ctx: RequestContext,
    ref: ProductRef,
    imageId: string,
    expected: ExpectedVersions,
  ): Promise<number> {
    let released: string[] = [];
    const { version } = await this.change(
      ctx,
      ref,
      expected,
      async (manager, product, tally) => {
        const image = await this.findImage(manager, ctx, product, imageId);
        // The primary's deletion writes a second row (the next primary's): see lockUploadersOf.
        if (image.isPrimary) await this.repository.lockUploadersOf(manager, product.id);
        await this.repository.delete(manager, image.id);
        tally.imageCountDelta -= 1;
        if (image.isPrimary) await this.repository.promoteFirst(manager, product.id);
        released = this.files.keysOf(image);
        await this.deletions.enqueue(manager, released, ctx.organizationId);
      },
      (manager, product) => this.findImage(manager, ctx, product, imageId),
    );
    await this.deletions.afterRemoval(released);
    return version;
  }

  /**
   * Adds an image (its files already stored) to the product's gallery, placed by
   * {@link place}, if the gallery is at a version `expected` names (412 gallery_changed if not).
   * `alsoRecord` runs in the same transaction once the image is inserted: what it writes commits
   * with the image, and what it throws undoes the image.
   */
  async add(
    ctx: RequestContext,
    ref: ProductRef,
    image: NewImage,
    placement: Placement,
    { expected, alsoRecord, storedFor }: AddOptions = {},
  ): Promise<AddedImage> {
    return this.join(ctx, ref, expected, async (manager, product) => {
      if (storedFor !== undefined && product.id !== storedFor) throw new ProductMoved(product.id);
      // Before any image row is locked (by place): a deletion of the uploader locks the user,
      // then their images; taken the other way round, the two could deadlock.
      const uploadedById = await uploaderStillThere(manager, image.uploadedById);
      const inserted = await this.repository.insert(manager, {
        ...image,
        uploadedById,
        organizationId: ctx.organizationId,
        productId: product.id,
        ...(await this.place(manager, product.id, placement)),
      });
      await alsoRecord?.(manager);
      return inserted;
    });
  }

  /**
   * Attaches a stand-alone upload to the gallery, placed by {@link place}, and clears its expiry
   * in the same statement, if the gallery is at a version `expected` names. One past its expiry
   * counts as gone. The image row is locked first, so an attach and the sweep of expired uploads
   * (which skips locked rows) never both win. The image is decided before the If-Match, as for a
   * change of one image: an unknown one is 404 and one attached already (a retried attach whose
   * first attempt went through) 409 whatever the If-Match.
   */
  async attach(
    ctx: RequestContext,
    ref: ProductRef,
    imageId: string,
    details: ImageText,
    placement: Placement,
    expected?: ExpectedVersions,
  ): Promise<AddedImage> {
    const attachable = async (manager: EntityManager, product: Product): Promise<Image> => {
      // The uploader before the image row, in the order a deletion of the user takes them (it
      // locks the user, then clears uploaded_by on their images one row at a time), as add()
      // does. Otherwise this attach could hold the image and wait for the primary's row (which
      // place() demotes) while the deletion, having cleared that row, waited for the image: a
      // deadlock, and a 500 to one of them. Now the deletion waits for the attach from the start.
      await this.repository.lockUploaderOf(manager, ctx, imageId);
      const image = await this.repository.lockAttachable(manager, ctx, imageId);
      if (!image) {
        throw new AppError(
          'image_not_found',
          'No uploaded image with this id in your organisation.',
          [{ field: 'image_id', message: 'no such image' }],
        );
      }
      checkAttachable(image, product);
      return image;
    };
    const work = async (manager: EntityManager, product: Product): Promise<Image> => {
      const image = await attachable(manager, product);
      Object.assign(image, await this.place(manager, product.id, placement), {
        productId: product.id,
        expiresAt: null,
        title: details.title ?? image.title,
        altText: details.altText ?? image.altText,
        description: details.description ?? image.description,
      });
      return this.repository.save(manager, image);
    };
    return this.join(ctx, ref, expected, work, attachable);
  }

  /**
   * A gallery change that adds the image `work` returns: counted, and answered with the version.
   * `decideFirst`: as for {@link change}.
   */
  private async join(
    ctx: RequestContext,
    ref: ProductRef,
    expected: ExpectedVersions,
    work: (manager: EntityManager, product: Product) => Promise<Image>,
    decideFirst?: (manager: EntityManager, product: Product) => Promise<unknown>,
  ): Promise<AddedImage> {
    const { result, version } = await this.change(
      ctx,
      ref,
      expected,
      (manager, product, tally) => {
        tally.imageCountDelta += 1;
        return work(manager, product);
      },
      decideFirst,
    );
    return { image: await this.presenter.one(result), version };
  }

  /**
   * Makes an imported image the product's primary and removes the image imported before it (the
   * row now, its files right after the commit, except those the new image took over). `store`
   * runs while the product is locked, so imports of one product never interleave their writes to
   * a shared key. If the gallery is at a version `expected` names (412 gallery_changed if not);
   * returns its new version.
   */
  async replaceImported(
    ctx: RequestContext,
    ref: ProductRef,
    store: (product: Product, manager: EntityManager) => Promise<NewImage>,
    expected?: ExpectedVersions,
  ): Promise<number> {
    const { version } = await this.change(ctx, ref, expected, async (manager, product, tally) => {
      // Before any image row is locked, as in add().
      const uploader = await uploaderStillThere(manager, ctx.principal.userId);
      const previous = await this.repository.findImported(manager, product.id);
      const image = await store(product, manager);
      if (previous) await this.repository.delete(manager, previous.id);
      tally.imageCountDelta += previous ? 0 : 1;
      await this.repository.insert(manager, {
        ...image,
        uploadedById: image.uploadedById === ctx.principal.userId ? uploader : null,
        organizationId: ctx.organizationId,
        productId: product.id,
        ...(await this.place(manager, product.id, {
          isPrimary: true,
          priority: previous?.priority,
        })),
      });
      if (previous) {
        await this.deletions.enqueue(
          manager,
          this.files.releasedKeys(previous, image),
          ctx.organizationId,
        );
      }
    });
    this.deletions.afterCommit();
    return version;
  }

  /**
   * Where a new image goes: the first becomes the primary, `isPrimary` demotes the previous one,
   * and without a priority it goes after the last. Never past MAX_PRIORITY: after an image at
   * that priority, the gallery's priorities are renumbered 0..n-1 in display order first (its
   * order kept); `max + 1` gave priorities no request may send, so an image could not be saved
   * back as it was read.
   */
  private async place(
    manager: EntityManager,
    productId: string,
    placement: Placement,
  ): Promise<{ isPrimary: boolean; priority: number }> {
    const { count, maxPriority } = await this.repository.countAndMaxPriority(manager, productId);
    const isPrimary = placement.isPrimary === true || count === 0;
    if (isPrimary && count > 0) await this.repository.demotePrimary(manager, productId);
    if (placement.priority !== undefined) return { isPrimary, priority: placement.priority };
    if (maxPriority === null) return { isPrimary, priority: 0 };
    if (maxPriority < MAX_PRIORITY) return { isPrimary, priority: maxPriority + 1 };
    const all = await this.repository.readPage(productId, { offset: 0, limit: count }, manager);
    const ids = all.map((image) => image.id);
    await this.repository.setPriorities(manager, productId, ids);
    return { isPrimary, priority: ids.length };
  }

  /**
   * Runs a gallery change: lock the product, check If-Match, change, then bump the version and
   * add what the change tallied to the product's image count, in one UPDATE. A change of one
   * image that is not there is 404 even with a stale If-Match: with a stale one, `decideFirst`
   * (which throws the refusal the image earns: 404, or an attach's 409) runs before the 412. A
   * precondition is only evaluated where the request would otherwise succeed (RFC 9110
   * §13.2.1), and a retried DELETE learns that its image is gone rather than that the gallery
   * changed (by its first attempt).
   */
  private async change<T>(
    ctx: RequestContext,
    ref: ProductRef,
    expected: ExpectedVersions,
    work: (manager: EntityManager, product: Product, tally: ImageTally) => Promise<T>,
    decideFirst?: (manager: EntityManager, product: Product) => Promise<unknown>,
  ): Promise<{ result: T; version: number; product: Product }> {
    return this.dataSource.transaction(async (manager) => {
      const product = await this.products.lock(ctx, ref, manager);
      if (expected && !expected.includes(product.galleryVersion)) {
        await decideFirst?.(manager, product);
        throw galleryChanged(product.galleryVersion);
      }
      const tally: ImageTally = { imageCountDelta: 0 };
      const result = await work(manager, product, tally);
      const version = tally.unchanged
        ? product.galleryVersion
        : await this.products.bumpGalleryVersion(manager, product.id, tally.imageCountDelta);
      return { result, version, product };
    });
  }

  /** The image of the locked product, or 404. */
  private async findImage(
    manager: EntityManager,
    ctx: RequestContext,
    product: Product,
    imageId: string,
  ): Promise<Image> {
    const image = await this.repository.findOnProduct(ctx, product.id, imageId, manager);
    if (!image) throw imageNotFound();
    return image;
  }
}

/**
 * A page by number starts at most {@link MAX_GALLERY_PAGE_DEPTH} images deep: an OFFSET makes the
 * database step over every row before it, a cursor does not (400 page_too_deep names it).
 */
function checkPageDepth(query: GalleryQueryDto): void {
  if (query.offset <= MAX_GALLERY_PAGE_DEPTH) return;
  throw new AppError(
    'page_too_deep',
    `A page by number starts at most ${MAX_GALLERY_PAGE_DEPTH} images deep; page=${query.page}&` +
      `per_page=${query.per_page} starts ${query.offset} deep. To read further, follow ` +
      'next_cursor: pass the next_cursor of a page as the cursor parameter, which reads any ' +
      'depth as fast as the first page.',
    [
      {
        field: 'page',
        message: `(page - 1) × per_page must be at most ${MAX_GALLERY_PAGE_DEPTH}; follow next_cursor (cursor) to read further`,
      },
    ],
  );
}

function imageNotFound(): AppError {
  return new AppError('image_not_found', 'No image with this id on this product.');
}

/** Only a stand-alone upload of purpose `product` joins a gallery. */
function checkAttachable(image: Image, product: Product): void {
  const field = 'image_id';
  if (image.productId !== null) {
    throw new AppError(
      'image_already_attached',
      image.productId === product.id
        ? 'The image is already in this gallery.'
        : 'The image is attached to another product.',
      [{ field, message: 'is already attached' }],
    );
  }
  if (image.purpose !== ImagePurpose.Product) {
    throw new AppError(
      'image_purpose_mismatch',
      `The image was uploaded with purpose "${image.purpose}"; only "product" images join a gallery.`,
      [{ field, message: `has purpose ${image.purpose}` }],
    );
  }
}

function checkPermutation(ids: string[], current: Set<string>): void {
  const seen = new Set<string>();
  const duplicates = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  const unknown = ids.filter((id) => !current.has(id));
  const missing = [...current].filter((id) => !seen.has(id));
  const problems = [
    duplicates.length > 0 ? `${duplicates.length} duplicate id(s)` : '',
    unknown.length > 0 ? `${unknown.length} id(s) not of this product` : '',
    missing.length > 0 ? `${missing.length} image(s) of the product missing` : '',
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new AppError(
      'invalid_image_order',
      `image_ids must name every image of the product exactly once: ${problems.join(', ')}.`,
      [{ field: 'image_ids', message: problems.join(', ') }],
    );
  }
}

/**
 * Images in the order their priorities give, the primary among them by its own: the display
 * order but for the primary, which is shown first whatever its priority. Pure.
 */
function inPriorityOrder(images: readonly Image[]): Image[] {
  return [...images].sort(
    (a, b) =>
      a.priority - b.priority ||
      b.createdAt.getTime() - a.createdAt.getTime() ||
      (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
}
