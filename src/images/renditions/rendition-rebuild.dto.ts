import { ApiProperty } from '@nestjs/swagger';
import { encodeShortId } from '../../common/ids/short-id';
import { PageMetaDto } from '../../common/pagination/page.dto';
import { RebuildState, RebuildTrigger, type RenditionRebuild } from './rendition-rebuild.entity';

/** A run re-making renditions, and its progress. */
export class RenditionRebuildDto {
  id!: string;

  /**
   * `planning`: its images are being queued (`total` still grows); `running`: all are queued;
   * `completed`: every one is done or failed; `superseded`: the presets changed again before it
   * finished, and a run for the new ones took over.
   */
  @ApiProperty({ enum: RebuildState, example: RebuildState.Running })
  state!: RebuildState;

  /**
   * The presets the renditions are made with, as IMAGE_RENDITIONS names them (sorted by name):
   * `name:WIDTHxHEIGHT:fit`, comma-separated.
   */
  @ApiProperty({ example: 'card:500x500:attention,large:1200x1200:inside,thumb:100x100:cover' })
  presets!: string;

  /** What started it: start-up (the presets changed), an admin's request, or the CLI. */
  @ApiProperty({ enum: RebuildTrigger, example: RebuildTrigger.Admin })
  trigger!: RebuildTrigger;

  /** Images whose renditions the run re-makes (final once it is `running`). */
  @ApiProperty({ type: 'integer', minimum: 0, example: 1200 })
  total!: number;

  /** Images done: renditions re-made, found already made with these presets, or deleted meanwhile. */
  @ApiProperty({ type: 'integer', minimum: 0, example: 450 })
  done!: number;

  /** Images whose renditions could not be re-made (an original missing, say): they keep theirs. */
  @ApiProperty({ type: 'integer', minimum: 0, example: 2 })
  failed!: number;

  created_at!: Date;
  updated_at!: Date;

  /** When it completed or was superseded. */
  finished_at!: Date | null;

  static from(run: RenditionRebuild): RenditionRebuildDto {
    return {
      id: encodeShortId(run.id),
      state: run.state,
      presets: run.renditionSet,
      trigger: run.trigger,
      total: run.total,
      done: run.done,
      failed: run.failed,
      created_at: run.createdAt,
      updated_at: run.updatedAt,
      finished_at: run.finishedAt,
    };
  }
}

/** Runs, newest first. */
export class RenditionRebuildPageDto extends PageMetaDto {
  items!: RenditionRebuildDto[];
}
