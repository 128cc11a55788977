import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { newApiKeyToken } from '../../src/auth/api-key-token';
import { ApiKey } from '../../src/auth/entities/api-key.entity';
import { Organization } from '../../src/auth/entities/organization.entity';
import { User } from '../../src/auth/entities/user.entity';
import { PasswordHasher } from '../../src/auth/password-hasher';
import { RequestContext } from '../../src/auth/principal';
import { ROLE_SCOPES, Role, type Scope } from '../../src/auth/roles';
import { Image, ImagePurpose, ImageSource } from '../../src/images/entities/image.entity';
import type { NewImage } from '../../src/images/gallery/gallery.service';
import type { StoredFiles } from '../../src/images/image-files.service';
import { newImageRecord } from '../../src/images/new-image';
import { Product } from '../../src/products/entities/product.entity';

/**
 * Rows for tests to start from, written straight to the database: an organisation, a user, an
 * API key, a product, an image. For the tests whose subject is something else (a gallery rule, a
 * compatible API, a permission): creating accounts and products through HTTP costs a request
 * each and, for users, an Argon2 hash. The tests of those flows themselves (POST /users,
 * POST /products, POST /api-keys, login) still go through the API.
 *
 * Every factory takes the DataSource (or a transaction's EntityManager) of the app or module
 * under test: `newProduct(app.get(DataSource), { organizationId })`.
 */
type Db = DataSource | EntityManager;

/** The password of every user a factory makes (log in with it through the API when needed). */
export const FACTORY_PASSWORD = 'correct horse battery staple';

/** A short random suffix, so that names stay unique within a test database. */
function unique(): string {
  return randomBytes(4).toString('hex');
}

export async function newOrganization(
  db: Db,
  values: { slug?: string; name?: string } = {},
): Promise<Organization> {
  const slug = values.slug ?? `org-${unique()}`;
  const repository = db.getRepository(Organization);
  return repository.save(repository.create({ slug, name: values.name ?? slug }));
}

/** The organisation `npm start` makes for its first administrator, looked up by slug. */
export function organizationBySlug(db: Db, slug = 'default'): Promise<Organization> {
  return db.getRepository(Organization).findOneByOrFail({ slug });
}

let passwordHash: Promise<string> | undefined;

/** {@link FACTORY_PASSWORD} hashed once per test process, by the service's own hasher. */
function factoryPasswordHash(): Promise<string> {
  passwordHash ??= new PasswordHasher().hash(FACTORY_PASSWORD);
  return passwordHash;
}

export interface NewUserValues {
  organizationId: string;
  role?: Role;
  /** Lower case; `username@test.example` is the email unless one is given. */
  username?: string;
  email?: string;
  fullName?: string;
  disabled?: boolean;
}

/** A user who can log in with {@link FACTORY_PASSWORD}. */
export async function newUser(db: Db, values: NewUserValues): Promise<User> {
  const username = values.username ?? `user-${unique()}`;
  const repository = db.getRepository(User);
  return repository.save(
    repository.create({
      organizationId: values.organizationId,
      username,
      email: values.email ?? `${username}@test.example`,
      fullName: values.fullName ?? '',
      passwordHash: await factoryPasswordHash(),
      role: values.role ?? Role.Staff,
      disabled: values.disabled ?? false,
    }),
  );
}

export interface NewApiKeyValues {
  organizationId: string;
  role?: Role;
  scopes?: Scope[];
  name?: string;
  /** The user recorded as its creator (the API records whoever made it). */
  createdBy?: User;
  expiresAt?: Date | null;
}

/** An API key as POST /api-keys stores it; `key` is the secret a client sends. */
export async function newApiKey(
  db: Db,
  values: NewApiKeyValues,
): Promise<{ apiKey: ApiKey; key: string }> {
  const role = values.role ?? Role.Staff;
  const token = newApiKeyToken();
  const repository = db.getRepository(ApiKey);
  const apiKey = await repository.save(
    repository.create({
      organizationId: values.organizationId,
      name: values.name ?? `key-${unique()}`,
      role,
      scopes: values.scopes ?? [...ROLE_SCOPES[role]],
      prefix: token.prefix,
      secretHash: token.secretHash,
      createdById: values.createdBy?.id ?? null,
      createdByUsername: values.createdBy?.username ?? null,
      expiresAt: values.expiresAt ?? null,
      lastUsedAt: null,
      revokedAt: null,
    }),
  );
  return { apiKey, key: token.key };
}

export interface NewProductValues {
  organizationId: string;
  name?: string;
  /** Unique per organisation; made from a random suffix when left out. */
  slug?: string;
  /** Stored as given: pass the GTIN-14 form (zero-padded), as the service stores it. */
  gtin?: string | null;
  externalId?: string | null;
  description?: string;
}

export async function newProduct(db: Db, values: NewProductValues): Promise<Product> {
  const repository = db.getRepository(Product);
  return repository.save(
    repository.create({
      organizationId: values.organizationId,
      name: values.name ?? 'Test product',
      slug: values.slug ?? `product-${unique()}`,
      gtin: values.gtin ?? null,
      externalId: values.externalId ?? null,
      description: values.description ?? '',
    }),
  );
}

/** Where {@link newImage} writes an image's original (a StorageProvider's `put`, for one). */
export type PutFile = (key: string, data: Buffer, contentType: string) => Promise<unknown>;

export interface NewImageValues {
  /** A random UUID unless given. */
  id?: string;
  organizationId: string;
  /** Null (the default): a stand-alone image. */
  productId?: string | null;
  isPrimary?: boolean;
  priority?: number;
  purpose?: ImagePurpose;
  source?: ImageSource;
  title?: string;
  altText?: string;
  uploadedById?: string | null;
  expiresAt?: Date | null;
  createdAt?: Date;
  /** The original's bytes (a JPEG from test/support/fixtures, say) and its format. */
  file?: { data: Buffer; format: string; mimeType: string; width: number; height: number };
  /** Writes the original to storage under the row's key; left out, only the row is made. */
  put?: PutFile;
}

/**
 * A stored image's row as an upload hands it to the gallery (GalleryService.add): the service's
 * own {@link newImageRecord} of an 8×8 JPEG whose files are not written (nothing here reads them);
 * `uploadedById` its uploader, an API key's upload (none) unless given.
 */
export function storedImage(uploadedById: string | null = null): NewImage {
  const id = randomUUID();
  const ctx = uploadedById
    ? contextFor({ organizationId: randomUUID(), id: uploadedById })
    : contextFor({ organizationId: randomUUID() }, 'api_key');
  const files: StoredFiles = {
    format: 'jpeg',
    mimeType: 'image/jpeg',
    width: 8,
    height: 8,
    size: 100,
    sha256: '0'.repeat(64),
    colorMode: 'RGB',
    hasAlpha: false,
    storageKey: `products/x/${id}/original.jpg`,
    storageVersion: null,
    renditions: {},
    renditionSet: null,
  };
  return newImageRecord(ctx, id, files, 'a.jpg');
}

/**
 * An image row with no renditions: an original of the given bytes, written to storage by `put`
 * under `<owner>/<imageId>/original.<format>` (the key scheme of the service) when a test needs
 * the file to exist, e.g. to see it deleted.
 */
export async function newImage(db: Db, values: NewImageValues): Promise<Image> {
  const id = values.id ?? randomUUID();
  const productId = values.productId ?? null;
  const file = values.file ?? {
    data: Buffer.from(`image ${id}`),
    format: 'jpeg',
    mimeType: 'image/jpeg',
    width: 1,
    height: 1,
  };
  const prefix = productId ? `products/${productId}` : 'uploads';
  const storageKey = `${prefix}/${id}/original.${file.format === 'jpeg' ? 'jpg' : file.format}`;
  if (values.put) await values.put(storageKey, file.data, file.mimeType);
  const repository = db.getRepository(Image);
  // A gallery's image counts in its product's kept image_count, as the service keeps it.
  if (productId) {
    await db.query('UPDATE products SET image_count = image_count + 1 WHERE id = $1', [productId]);
  }
  return repository.save(
    repository.create({
      id,
      organizationId: values.organizationId,
      productId,
      purpose: values.purpose ?? ImagePurpose.Product,
      source: values.source ?? ImageSource.Upload,
      title: values.title ?? '',
      altText: values.altText ?? '',
      isPrimary: values.isPrimary ?? false,
      priority: values.priority ?? 0,
      originalFilename: `${id}.${file.format}`,
      format: file.format,
      mimeType: file.mimeType,
      width: file.width,
      height: file.height,
      size: file.data.length,
      colorMode: 'rgb',
      hasAlpha: false,
      sha256: createHash('sha256').update(file.data).digest('hex'),
      storageKey,
      renditions: {},
      uploadedById: values.uploadedById ?? null,
      expiresAt: values.expiresAt ?? null,
      ...(values.createdAt ? { createdAt: values.createdAt } : {}),
    }),
  );
}

/**
 * The context a service method receives for a caller: a user (a factory's, or any id) with the
 * role's scopes, or an API key's with `type: 'api_key'`. Given an organisation: a staff user of it.
 */
export function contextFor(
  caller: Organization | { organizationId: string; role?: Role; id?: string },
  type: 'user' | 'api_key' = 'user',
): RequestContext {
  const {
    organizationId,
    role = Role.Staff,
    id = randomUUID(),
  } = 'organizationId' in caller ? caller : { organizationId: caller.id };
  return new RequestContext({
    type,
    id,
    organizationId,
    role,
    scopes: ROLE_SCOPES[role],
    userId: type === 'user' ? id : null,
  });
}
