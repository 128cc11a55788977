import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

/**
 * `planning`: its images are being queued (`total` grows); `running`: all are queued, jobs are
 * working through them; `completed`: every queued image is done or failed; `superseded`: the
 * presets changed again before it finished, and a run for the new ones replaced it.
 */
export enum RebuildState {
  Planning = 'planning',
  Running = 'running',
  Completed = 'completed',
  Superseded = 'superseded',
}

/** What started a run: start-up (the presets changed), an admin's request, the CLI. */
export enum RebuildTrigger {
  StartUp = 'start-up',
  Admin = 'admin',
  Cli = 'cli',
}

/** The states of a run still under way: at most one run is in one of them (the index below). */
export const ACTIVE_STATES = [RebuildState.Planning, RebuildState.Running] as const;

/**
 * A run re-making the renditions of every image made with other presets than `renditionSet`:
 * its progress (`done` and `failed` out of `total`), read by the admin route and the CLI.
 */
@Entity({ name: 'rendition_rebuilds' })
@Check(
  'CHK_rendition_rebuilds_state',
  `"state" IN ('planning', 'running', 'completed', 'superseded')`,
)
@Check('CHK_rendition_rebuilds_trigger', `"trigger" IN ('start-up', 'admin', 'cli')`)
@Check('CHK_rendition_rebuilds_counts', '"total" >= 0 AND "done" >= 0 AND "failed" >= 0')
// At most one run under way, whatever several instances starting at once do. An index on a
// constant, which the entity cannot declare: migrations/1796400000000-… defines it.
@Index('UQ_rendition_rebuilds_active', { synchronize: false })
export class RenditionRebuild {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_rendition_rebuilds' })
  id!: string;

  /** The presets' signature the run re-makes renditions with (rendition-set.ts). */
  @Column({ name: 'rendition_set', type: 'text' })
  renditionSet!: string;

  @Column({ type: 'varchar', length: 16, default: RebuildState.Planning })
  state!: RebuildState;

  @Column({ type: 'varchar', length: 16 })
  trigger!: RebuildTrigger;

  /** Images queued so far (final once the run is `running`). */
  @Column({ type: 'integer', default: 0 })
  total!: number;

  /** Images whose renditions are now of the run's presets (re-made, or found so, or gone). */
  @Column({ type: 'integer', default: 0 })
  done!: number;

  /** Images whose job failed for good (an unreadable original, say); their renditions stay. */
  @Column({ type: 'integer', default: 0 })
  failed!: number;

  /** While planning: the last image id queued, where planning resumes after a crash. */
  @Column({ type: 'uuid', nullable: true })
  cursor!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt!: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt!: Date | null;
}
