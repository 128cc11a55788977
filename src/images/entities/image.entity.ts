import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  UpdateDateColumn,
} from 'typeorm';
import { Organization } from '../../auth/entities/organization.entity';
import { User } from '../../auth/entities/user.entity';
import { Product } from '../../products/entities/product.entity';
import { BIGINT_AS_NUMBER, IdentityNumberColumn } from '../../database/columns';
import type { RenditionTransform } from '../processing/rendition-presets';

export enum ImagePurpose {
  Product = 'product',
  Account = 'account',
  User = 'user',
  Category = 'category',
}

/** How an image came in: a file upload (gallery or stand-alone), or imported from JSON (the Ocha API). */
export enum ImageSource {
  Upload = 'upload',
  Import = 'import',
}

export interface StoredRendition {
  /** Its own file, or the original's key when the storage derives it on delivery. */
  key: string;
  width: number;
  height: number;
  /** webp, or `auto` when the storage picks the format per browser on delivery. */
  format: string;
  /** Bytes; null when derived on delivery (not known until then). */
  size: number | null;
  /** Set when the storage derives the rendition on delivery: the transformation to apply. */
  transform?: RenditionTransform;
}

@Entity({ name: 'images' })
@Check('CHK_images_priority', '"priority" >= 0')
@Check('CHK_images_purpose', `"purpose" IN ('product', 'account', 'user', 'category')`)
// The database guarantees at most one primary image per product, whatever the application does.
@Index('UQ_images_one_primary_per_product', ['productId'], { unique: true, where: '"is_primary"' })
// The gallery's display order, read backwards: (product_id, is_primary, -priority, created_at, id).
// An expression index the entity cannot declare: migrations/1796100000000-… defines it.
@Index('IDX_images_gallery_order', { synchronize: false })
@Check('CHK_images_source', `"source" IN ('upload', 'import')`)
// A product has at most one image imported from JSON: the next import replaces it.
@Index('UQ_images_one_import_per_product', ['productId'], {
  unique: true,
  where: `"source" = 'import'`,
})
// Only a stand-alone image can expire (an upload-then-attach flow's); attaching clears it.
@Check('CHK_images_expiry_unattached', '"expires_at" IS NULL OR "product_id" IS NULL')
// The sweep of expired stand-alone uploads reads only these.
@Index('IDX_images_expires_at', ['expiresAt'], { where: '"expires_at" IS NOT NULL' })
// Stand-alone images of an organisation, newest first, by purpose (GET /images).
@Index('IDX_images_standalone', ['organizationId', 'purpose', 'createdAt', 'id'], {
  where: '"product_id" IS NULL',
})
export class Image {
  /** Chosen by the service before the files are written, so object keys can contain it. */
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  /**
   * A number given by the database, for the APIs whose images have integer ids (the token API,
   * Inventorum). The uuid stays the identity everywhere else.
   */
  @Index('UQ_images_number', { unique: true })
  @IdentityNumberColumn()
  number!: number;

  @Index('IDX_images_organization_id')
  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id', foreignKeyConstraintName: 'FK_images_organization' })
  organization?: Organization;

  @Column({ name: 'product_id', type: 'uuid', nullable: true })
  productId!: string | null;

  @ManyToOne(() => Product, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'product_id', foreignKeyConstraintName: 'FK_images_product' })
  product?: Product | null;

  @Column({ type: 'varchar', length: 16, default: ImagePurpose.Product })
  purpose!: ImagePurpose;

  @Column({ type: 'varchar', length: 8, default: ImageSource.Upload })
  source!: ImageSource;

  @Column({ type: 'varchar', length: 255, default: '' })
  title!: string;

  @Column({ name: 'alt_text', type: 'varchar', length: 1000, default: '' })
  altText!: string;

  /** Longer text about the image (the token API's `description`). */
  @Column({ type: 'varchar', length: 5000, default: '' })
  description!: string;

  @Column({ name: 'is_primary', type: 'boolean', default: false })
  isPrimary!: boolean;

  @Column({ type: 'integer', default: 0 })
  priority!: number;

  @Column({ name: 'original_filename', type: 'varchar', length: 255, default: '' })
  originalFilename!: string;

  /** Of the stored original: jpeg, png, gif, webp, avif or svg. */
  @Column({ type: 'varchar', length: 16 })
  format!: string;

  @Column({ name: 'mime_type', type: 'varchar', length: 64 })
  mimeType!: string;

  @Column({ type: 'integer' })
  width!: number;

  @Column({ type: 'integer' })
  height!: number;

  /** Bytes of the stored original. */
  @Column({ type: 'integer' })
  size!: number;

  /** Of the upload as received: rgb, rgba, cmyk, grayscale, … */
  @Column({ name: 'color_mode', type: 'varchar', length: 16 })
  colorMode!: string;

  @Column({ name: 'has_alpha', type: 'boolean' })
  hasAlpha!: boolean;

  /** Of the stored original. */
  @Column({ type: 'char', length: 64 })
  sha256!: string;

  @Column({ name: 'storage_key', type: 'varchar', length: 512 })
  storageKey!: string;

  /**
   * The version the storage gave the original when it wrote it (Cloudinary: the upload's time in
   * seconds), put in its delivery URLs: a key that took new bytes (the Ocha API's imported image)
   * then has a new URL. Null where keys never take new bytes.
   */
  @Column({
    name: 'storage_version',
    type: 'bigint',
    nullable: true,
    transformer: BIGINT_AS_NUMBER,
  })
  storageVersion!: number | null;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  renditions!: Record<string, StoredRendition>;

  /**
   * The presets the renditions were made with (renditions/rendition-set.ts); null for an image
   * stored before they were recorded. Indexed: start-up asks whether any image differs.
   */
  @Index('IDX_images_rendition_set')
  @Column({ name: 'rendition_set', type: 'text', nullable: true })
  renditionSet!: string | null;

  @Column({ name: 'uploaded_by', type: 'uuid', nullable: true })
  uploadedById!: string | null;

  @ManyToOne(() => User, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({ name: 'uploaded_by', foreignKeyConstraintName: 'FK_images_uploaded_by' })
  uploadedBy?: User | null;

  /** When a stand-alone image that asked for an expiry is swept away; null: kept until deleted. */
  @Column({ name: 'expires_at', type: 'timestamptz', precision: 3, nullable: true })
  expiresAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt!: Date;
}
