import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { Role, type Scope } from '../roles';
import { Organization } from './organization.entity';
import { User } from './user.entity';

@Entity({ name: 'api_keys' })
@Check('CHK_api_keys_role', `"role" IN ('admin', 'staff', 'user')`)
export class ApiKey {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Index('IDX_api_keys_organization_id')
  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id', foreignKeyConstraintName: 'FK_api_keys_organization' })
  organization?: Organization;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  /** The role the key acts as; its scopes never exceed this role's. */
  @Column({ type: 'varchar', length: 16 })
  role!: Role;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  scopes!: Scope[];

  /** Public part of the key, shown in listings and used to find it: `pis_<prefix>_<secret>`. */
  @Index('UQ_api_keys_prefix', { unique: true })
  @Column({ type: 'varchar', length: 16 })
  prefix!: string;

  /** SHA-256 (hex) of the secret part. The key itself is never stored. */
  @Column({ name: 'secret_hash', type: 'char', length: 64 })
  secretHash!: string;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdById!: string | null;

  @ManyToOne(() => User, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({ name: 'created_by', foreignKeyConstraintName: 'FK_api_keys_created_by' })
  createdBy?: User | null;

  /**
   * The creator's username, copied when the key is made. A key belongs to the organisation and
   * outlives its creator (created_by becomes null when that user is deleted); this keeps who made
   * it, for the review of keys after someone leaves. Null for keys made with the CLI.
   */
  @Column({ name: 'created_by_username', type: 'varchar', length: 150, nullable: true })
  createdByUsername!: string | null;

  /**
   * The API key that made this one, when a key made it (null for a person's, the CLI's, or when
   * that key is gone). Revoking a key revokes those it made, and theirs (ApiKeysService.revoke).
   */
  @Index('IDX_api_keys_created_by_key')
  @Column({ name: 'created_by_key_id', type: 'uuid', nullable: true })
  createdByKeyId!: string | null;

  @ManyToOne(() => ApiKey, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({
    name: 'created_by_key_id',
    foreignKeyConstraintName: 'FK_api_keys_created_by_key',
  })
  createdByKey?: ApiKey | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
