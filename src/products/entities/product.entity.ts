import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { Organization } from '../../auth/entities/organization.entity';
import { BIGINT_AS_NUMBER } from '../../database/columns';

/**
 * The next number of the one sequence both versions are drawn from (migration 1797800000000): a
 * number is never handed out twice, to any product, so an ETag of one product (or of one deleted
 * since) never matches another that took its external id or GTIN.
 */
export const NEXT_VERSION = "nextval('entity_versions')";

@Entity({ name: 'products' })
@Index('UQ_products_organization_slug', ['organizationId', 'slug'], { unique: true })
@Index('UQ_products_organization_gtin', ['organizationId', 'gtin'], {
  unique: true,
  where: '"gtin" IS NOT NULL',
})
// The caller's own product id (the token API's integer product ids), unique per organisation.
@Index('UQ_products_organization_external_id', ['organizationId', 'externalId'], {
  unique: true,
  where: '"external_id" IS NOT NULL',
})
@Index('IDX_products_organization_created', ['organizationId', 'createdAt', 'id'])
@Check('CHK_products_image_count', '"image_count" >= 0')
export class Product {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id', foreignKeyConstraintName: 'FK_products_organization' })
  organization?: Organization;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 100 })
  slug!: string;

  /** GTIN-14, zero-padded (Closient). */
  @Column({ type: 'char', length: 14, nullable: true })
  gtin!: string | null;

  /** The caller's own id for the product (up to 255 characters), if it gave one. */
  @Column({ name: 'external_id', type: 'varchar', length: 255, nullable: true })
  externalId!: string | null;

  @Column({ type: 'text', default: '' })
  description!: string;

  /**
   * Moved on (to NEXT_VERSION) by every change to the product's own fields, by a trigger on the
   * table (whoever makes the change: migrations 1797500000000, 1797800000000): the product's ETag,
   * so that editors can send If-Match and never overwrite a change they have not seen. Gallery
   * changes leave it alone (they move `galleryVersion`).
   */
  @Column({ type: 'bigint', default: () => NEXT_VERSION, transformer: BIGINT_AS_NUMBER })
  version!: number;

  /**
   * Moved on (to NEXT_VERSION) by every change to the product's gallery, in the same transaction:
   * the gallery's ETag, so editors can send If-Match and never overwrite a change they have not
   * seen.
   */
  @Column({
    name: 'gallery_version',
    type: 'bigint',
    default: () => NEXT_VERSION,
    transformer: BIGINT_AS_NUMBER,
  })
  galleryVersion!: number;

  /**
   * How many images the gallery holds, kept by every gallery change in the transaction (and the
   * UPDATE) that bumps the gallery version: a gallery page's total and a product's `image_count`
   * without counting rows per request.
   */
  @Column({ name: 'image_count', type: 'integer', default: 0 })
  imageCount!: number;

  /** Millisecond precision, so keyset pagination cursors round-trip through JavaScript dates. */
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt!: Date;
}
