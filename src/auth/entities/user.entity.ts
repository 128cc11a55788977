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
import { IdentityNumberColumn } from '../../database/columns';
import { Role } from '../roles';
import { Organization } from './organization.entity';

@Entity({ name: 'users' })
@Check('CHK_users_role', `"role" IN ('admin', 'staff', 'user')`)
export class User {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /**
   * A number given by the database, for the APIs whose users have integer ids (the token API's
   * `user.id`). The uuid stays the identity everywhere else.
   */
  @Index('UQ_users_number', { unique: true })
  @IdentityNumberColumn()
  number!: number;

  @Index('IDX_users_organization_id')
  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id', foreignKeyConstraintName: 'FK_users_organization' })
  organization?: Organization;

  /** Stored lower-cased; unique across the service. */
  @Index('UQ_users_email', { unique: true })
  @Column({ type: 'varchar', length: 320 })
  email!: string;

  /** Stored lower-cased; unique across the service. */
  @Index('UQ_users_username', { unique: true })
  @Column({ type: 'varchar', length: 150 })
  username!: string;

  @Column({ name: 'full_name', type: 'varchar', length: 200, default: '' })
  fullName!: string;

  /** Argon2id, PHC string format. */
  @Column({ name: 'password_hash', type: 'varchar', length: 255 })
  passwordHash!: string;

  @Column({ type: 'varchar', length: 16 })
  role!: Role;

  @Column({ type: 'boolean', default: false })
  disabled!: boolean;

  /**
   * When the user's sessions last ended (a logout, a password change): tokens issued before, that
   * name no session generation (older ones), are refused (whole seconds, as a token's `iat`). Null
   * until the first end.
   */
  @Column({ name: 'tokens_valid_after', type: 'timestamptz', precision: 3, nullable: true })
  tokensValidAfter!: Date | null;

  /**
   * Counts the ends of the user's sessions (a logout, a password change, a disabling or
   * re-enabling): a token names the generation it was issued in (`gen`), and is refused once this
   * has moved on.
   */
  @Column({ name: 'session_generation', type: 'integer', default: 0 })
  sessionGeneration!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
