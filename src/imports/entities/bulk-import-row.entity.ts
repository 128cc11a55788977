import {
  Check,
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  UpdateDateColumn,
} from 'typeorm';
import { BulkImport } from './bulk-import.entity';

export enum ImportRowStatus {
  Pending = 'pending',
  Ok = 'ok',
  Failed = 'failed',
}

/**
 * One row of a bulk import. Its identity is stable across re-runs: the import and its position
 * (`row_number`, from 1). A row that was refused on arrival keeps none of its values, only its
 * problem; a valid one keeps what the worker needs.
 */
@Entity({ name: 'import_rows' })
@Check('CHK_import_rows_status', `"status" IN ('pending', 'ok', 'failed')`)
@Check('CHK_import_rows_priority', '"priority" IS NULL OR "priority" >= 0')
// Progress counts and the rows of one status, in order: one index range each.
@Index('IDX_import_rows_status', ['importId', 'status', 'rowNumber'])
export class BulkImportRow {
  @PrimaryColumn({ name: 'import_id', type: 'uuid', primaryKeyConstraintName: 'PK_import_rows' })
  importId!: string;

  @ManyToOne(() => BulkImport, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'import_id', foreignKeyConstraintName: 'FK_import_rows_import' })
  import?: BulkImport;

  @PrimaryColumn({
    name: 'row_number',
    type: 'integer',
    primaryKeyConstraintName: 'PK_import_rows',
  })
  rowNumber!: number;

  /**
   * For a CSV import, the line of the file the row's record starts on (from 1, the header's
   * included); null for a JSON import.
   */
  @Column({ name: 'line_number', type: 'integer', nullable: true })
  lineNumber!: number | null;

  @Column({ type: 'varchar', length: 8, default: ImportRowStatus.Pending })
  status!: ImportRowStatus;

  /** The product, by exactly one of its three keys (null on a row refused on arrival). */
  @Column({ name: 'product_id', type: 'uuid', nullable: true })
  productId!: string | null;

  @Column({ type: 'varchar', length: 14, nullable: true })
  gtin!: string | null;

  @Column({ name: 'external_id', type: 'varchar', length: 255, nullable: true })
  externalId!: string | null;

  @Column({ type: 'varchar', length: 2048, nullable: true })
  url!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  title!: string | null;

  @Column({ name: 'alt_text', type: 'varchar', length: 1000, nullable: true })
  altText!: string | null;

  @Column({ name: 'is_primary', type: 'boolean', nullable: true })
  isPrimary!: boolean | null;

  @Column({ type: 'integer', nullable: true })
  priority!: number | null;

  /**
   * The image this row makes: chosen when a worker claims the row (its files are stored under
   * it), kept once the row is ok. A claim by a later attempt finds an image already made under
   * the previous claim's id and keeps it, rather than making a second one.
   */
  @Column({ name: 'image_id', type: 'uuid', nullable: true })
  imageId!: string | null;

  /** The job working the row, until `claimed_until`: no other job takes it meanwhile. */
  @Column({ name: 'claimed_by', type: 'varchar', length: 64, nullable: true })
  claimedBy!: string | null;

  @Column({ name: 'claimed_until', type: 'timestamptz', precision: 3, nullable: true })
  claimedUntil!: Date | null;

  /**
   * The retry of the import that last put the row back to pending (0: the import itself). A job
   * names the round it was queued in: failed for good, it fails the rows it left, not rows a later
   * retry queued to another job.
   */
  @Column({ name: 'retry_round', type: 'integer', default: 0 })
  retryRound!: number;

  @Column({ name: 'problem_code', type: 'varchar', length: 64, nullable: true })
  problemCode!: string | null;

  @Column({ name: 'problem_message', type: 'varchar', length: 1000, nullable: true })
  problemMessage!: string | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt!: Date;
}
