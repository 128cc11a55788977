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
import type { RenditionTransform } from '../rendition-presets';

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
@Index('IDX_images_gallery_order', ['productId', 'isPrimary', 'priority', 'createdAt'])
@Check('CHK_images_source', `"source" IN ('upload', 'import')`)
// A product has at most one image imported from JSON: the next import replaces it.
@Index('UQ_images_one_import_per_product', ['productId'], {
  unique: true,
  where: `"source" = 'import'`,
})
// The sweep of expired stand-alone uploads reads only these.
@Index('IDX_images_unattached_created_at', ['createdAt'], { where: '"product_id" IS NULL' })
export class Image {
  /** Chosen by the service before the files are written, so object keys can contain it. */
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

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

  @Column({ type: 'jsonb', default: () => "'{}'" })
  renditions!: Record<string, StoredRendition>;

  @Column({ name: 'uploaded_by', type: 'uuid', nullable: true })
  uploadedById!: string | null;

  @ManyToOne(() => User, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({ name: 'uploaded_by', foreignKeyConstraintName: 'FK_images_uploaded_by' })
  uploadedBy?: User | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt!: Date;
}
