import type { RenditionRebuildDto } from './rendition-rebuild.dto';
import { RebuildState } from './rendition-rebuild.entity';

/** Whether a run is over: nothing more will change in it. */
export function isOver(run: Pick<RenditionRebuildDto, 'state'>): boolean {
  return run.state === RebuildState.Completed || run.state === RebuildState.Superseded;
}

/**
 * One line of a run's progress, for a terminal: a bar of `width` cells, the share of images done
 * or failed, and the counts (`[######----]  60%  600/1000 done, 2 failed, running`). The total
 * still grows while the run is planning: the share is then of the images queued so far.
 */
export function progressLine(
  run: Pick<RenditionRebuildDto, 'state' | 'total' | 'done' | 'failed'>,
  width = 30,
): string {
  const finished = Math.min(run.done + run.failed, run.total);
  const share = run.total === 0 ? (isOver(run) ? 1 : 0) : finished / run.total;
  const filled = Math.round(share * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const percent = `${Math.floor(share * 100)}%`.padStart(4);
  return `${bar} ${percent}  ${run.done}/${run.total} done, ${run.failed} failed, ${run.state}`;
}
