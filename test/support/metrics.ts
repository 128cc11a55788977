/** The sum of the samples of `name` whose labels include `labels`, in the Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample?.[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => sample[2]?.includes(`${k}="${v}"`));
    if (has) sum += Number(sample[3]);
  }
  return sum;
}
