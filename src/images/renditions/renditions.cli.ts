import type { LoggerService } from '@nestjs/common';
import { decodeId } from '../../common/ids/short-id';
import type { LoadedConfig } from '../../config/app-config.module';
import { withCliContext } from '../../database/cli-context';
import { isOver, progressLine } from './rebuild-progress';
import type { RenditionRebuildDto } from './rendition-rebuild.dto';
import { RebuildState, RebuildTrigger } from './rendition-rebuild.entity';
import { RenditionRebuildsService } from './rendition-rebuilds.service';
import { RenditionsModule } from './renditions.module';

/** How often the run's progress is read. */
const POLL_MS = 500;
/** Without a terminal (a log, CI), one progress line every so often instead of a redrawn bar. */
const LINE_EVERY_MS = 5000;

/**
 * `npm run -s cli -- renditions:rebuild`: starts a run (or attaches to the one under way), shows its
 * progress on stderr until it is over (a bar redrawn on a terminal, else a line every five
 * seconds), then prints the run as JSON on stdout. This process works the jobs too, beside any
 * running instance (unless SERVICE_ROLE=api). Resolves with the exit code: 0 when every image was
 * re-made, 1 when some failed or another run superseded this one.
 */
export async function rebuildRenditions(
  config: LoadedConfig,
  logger: LoggerService,
): Promise<number> {
  return withCliContext(config, RenditionsModule.forCli(), logger, async (app) => {
    const rebuilds = app.get(RenditionRebuildsService);
    const report = progressReporter(process.stderr);
    let run = await rebuilds.start(RebuildTrigger.Cli);
    const id = decodeId(run.id)!;
    while (!isOver(run)) {
      report(run, false);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      run = await rebuilds.get(id);
    }
    report(run, true);
    process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    if (run.state === RebuildState.Superseded) {
      process.stderr.write(
        'Superseded by a run for other presets: do all instances share IMAGE_RENDITIONS?\n',
      );
    }
    return run.state === RebuildState.Completed && run.failed === 0 ? 0 : 1;
  });
}

function progressReporter(
  out: NodeJS.WriteStream,
): (run: RenditionRebuildDto, last: boolean) => void {
  let lineAt = 0;
  return (run, last) => {
    if (out.isTTY) {
      out.write(`\r${progressLine(run)}\x1b[K${last ? '\n' : ''}`);
    } else if (last || Date.now() - lineAt >= LINE_EVERY_MS) {
      out.write(`${progressLine(run)}\n`);
      lineAt = Date.now();
    }
  };
}
