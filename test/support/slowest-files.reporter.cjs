/**
 * A Jest reporter printing, after the run, where its time went: each tier's file-seconds (the sum of
 * its files' durations: what the workers spent) and the slowest files. Jest's own output names a
 * file's time only past a threshold, in the middle of thousands of lines; CI on a 2-core machine
 * must stay under 30 minutes, and a run that grew needs to say which files grew. Printed at the
 * end of the run, beside Jest's summary, in the tail that a CI summary keeps.
 */
const SHOWN = 25;

class SlowestFilesReporter {
  onRunComplete(_contexts, results) {
    const files = results.testResults.map((result) => ({
      tier: result.displayName?.name ?? result.displayName ?? '',
      path: result.testFilePath.replace(`${process.cwd()}/`, ''),
      seconds: (result.perfStats.end - result.perfStats.start) / 1000,
    }));
    if (files.length === 0) return;
    const byTier = new Map();
    for (const file of files) byTier.set(file.tier, (byTier.get(file.tier) ?? 0) + file.seconds);
    const tiers = [...byTier].map(([tier, seconds]) => `${tier || 'tests'} ${Math.round(seconds)}`);
    const wall = (Date.now() - results.startTime) / 1000;
    const lines = [
      `\nWhere the time went: ${Math.round(wall)} s wall; file-seconds by tier: ${tiers.join(', ')}`,
      `Slowest ${Math.min(SHOWN, files.length)} of ${files.length} files:`,
      ...files
        .sort((a, b) => b.seconds - a.seconds)
        .slice(0, SHOWN)
        .map((f) => `  ${f.seconds.toFixed(1).padStart(6)} s  ${f.tier.padEnd(11)} ${f.path}`),
    ];
    process.stderr.write(`${lines.join('\n')}\n`);
  }
}

module.exports = SlowestFilesReporter;
