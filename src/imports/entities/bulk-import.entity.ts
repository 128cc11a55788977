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
import type { Principal } from '../../auth/principal';

/** How the rows came: a JSON body, or a CSV (a `text/csv` body or a multipart file). */
export enum ImportFormat {
  Json = 'json',
  Csv = 'csv',
}

/**
 * `receiving`: rows are being stored as the body streams in (none is worked yet); `processing`:
 * every row is stored and the pending ones are queued. Completion is read from the rows.
 */
export enum ImportState {
  Receiving = 'receiving',
  Processing = 'processing',
}

/** A bulk import (POST /api/v1/imports): its rows are in import_rows. */
@Entity({ name: 'imports' })
@Check('CHK_imports_format', `"format" IN ('json', 'csv')`)
@Check('CHK_imports_state', `"state" IN ('receiving', 'processing')`)
@Index('IDX_imports_organization_created', ['organizationId', 'createdAt'])
export class BulkImport {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_imports' })
  id!: string;

  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id', foreignKeyConstraintName: 'FK_imports_organization' })
  organization?: Organization;

  /**
   * Who asked for it (or last retried it), as authenticated then: its rows are worked with this
   * principal's organisation and recorded as uploaded by its user.
   */
  @Column({ type: 'jsonb' })
  principal!: Principal;

  @Column({ type: 'varchar', length: 8 })
  format!: ImportFormat;

  @Column({ type: 'varchar', length: 16, default: ImportState.Receiving })
  state!: ImportState;

  /** Rows received; final once `state` is `processing`. */
  @Column({ name: 'total_rows', type: 'integer', default: 0 })
  totalRows!: number;

  /** When the last pending row was done; cleared by a retry. */
  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt!: Date;
}
