// The results: per row, the service's and the baseline's measurements of each repetition, their
// ratio per repetition (both measured back to back), reduced to the median and the range; printed
// as a table with each goal beside its measured ratio, written as JSON, and drawn as an SVG chart.
import { writeFile } from 'node:fs/promises';

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function range(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length ? [Math.min(...finite), Math.max(...finite)] : [NaN, NaN];
}

/** Goal checks: `{ at: 'least' | 'most', value }` on the ratio; absent: reported, not judged. */
export function verdict(row) {
  if (row.pass !== undefined) return row.pass ? 'met' : 'NOT met';
  if (!row.goal) return '';
  const ratio = median(row.ratios);
  if (!Number.isFinite(ratio)) return 'no data';
  const met = row.goal.at === 'least' ? ratio >= row.goal.value : ratio <= row.goal.value;
  return met ? 'met' : 'NOT met';
}

const fmt = (v, digits = 2) =>
  !Number.isFinite(v)
    ? '–'
    : Math.abs(v) >= 100
      ? v.toFixed(0)
      : Math.abs(v) >= 10
        ? v.toFixed(1)
        : v.toFixed(digits);

const spread = (values, digits) => {
  const [lo, hi] = range(values);
  return values.length > 1
    ? `${fmt(median(values), digits)} (${fmt(lo, digits)}–${fmt(hi, digits)})`
    : fmt(median(values), digits);
};

export function goalText(goal) {
  if (!goal) return '–';
  return `${goal.at === 'least' ? '≥' : '≤'} ${goal.value} ×`;
}

/** Markdown table rows (also readable in a terminal). */
export function table(rows) {
  const head = [
    'what',
    'unit',
    'service',
    'baseline',
    'ratio (median, range)',
    'goal',
    'verdict',
    'load',
  ];
  const lines = rows.map((row) => [
    row.what,
    row.unit,
    spread(row.service, 1),
    row.baseline ? `${spread(row.baseline, 1)} ${row.baselineName}` : (row.baselineName ?? '–'),
    row.ratios?.length ? spread(row.ratios, 2) : '–',
    row.goalText ?? goalText(row.goal),
    verdict(row),
    row.load.length ? fmt(median(row.load), 2) : '–',
  ]);
  const all = [head, head.map(() => '---'), ...lines];
  return all.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

const escape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The log2 domain of the chart: powers of two around every ratio, range and goal, and 1. A ratio
 * of 0 (no RSS growth at all, say) has no logarithm: it is drawn at the domain's left edge, and
 * left out here, where its -Infinity made the axis loop in chart() run without end (the bench ran
 * out of memory after its last scenario).
 */
function domain(rows) {
  const values = rows
    .flatMap((row) => [...range(row.ratios), row.goal?.value ?? 1, 1])
    .filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.floor(Math.log2(Math.min(...values)));
  const hi = Math.ceil(Math.log2(Math.max(...values)));
  // Within 1/16× and 16×: a ratio near 0 (no RSS growth against the baseline's 116 MB) would
  // otherwise squeeze every other bar into a few pixels; beyond, a bar ends at the edge.
  return [Math.max(Math.min(lo, -1), -4), Math.min(Math.max(hi, 1), 4)];
}

/** A ratio's colour: its goal met (green), not met (red), or no ratio goal (grey). */
function colour(row) {
  if (!row.goal) return '#7a8ca3';
  return verdict(row) === 'met' ? '#3a9d5d' : '#d0463b';
}

function bar(row, y, x, barH) {
  const ratio = median(row.ratios);
  const [lo, hi] = range(row.ratios);
  const [a, b] = [x(Math.min(1, ratio)), x(Math.max(1, ratio))];
  const goal = row.goal ? x(row.goal.value) : -Infinity;
  const parts = [
    `<text x="${LEFT - 8}" y="${y + 13}" text-anchor="end">${escape(row.what)}</text>`,
    `<rect x="${a}" y="${y}" width="${Math.max(1, b - a)}" height="${barH}" fill="${colour(row)}"/>`,
    `<line x1="${x(lo)}" y1="${y + barH / 2}" x2="${x(hi)}" y2="${y + barH / 2}" stroke="#222" stroke-width="1.5"/>`,
    `<text x="${Math.max(b, x(hi), goal + 5) + 4}" y="${y + 13}" fill="#222">${fmt(ratio)}×</text>`,
  ];
  if (row.goal) {
    const half = barH / 2 + 2;
    parts.push(
      `<path d="M${goal} ${y - 2} l5 ${half} l-5 ${half} l-5 ${-half} z" fill="#111" fill-opacity="0.75"/>`,
    );
  }
  return parts;
}

const LEFT = 330;

/**
 * A horizontal bar per row with a ratio, on a log scale (0.5× as far from 1× as 2×): the median
 * as the bar from 1×, the range as a whisker, the goal as a diamond.
 */
export function chart(rows, subtitle) {
  const plotted = rows.filter((row) => row.ratios?.length && Number.isFinite(median(row.ratios)));
  const [width, barH, gap, top] = [860, 18, 8, 56];
  const height = top + plotted.length * (barH + gap) + 40;
  const [lo, hi] = domain(plotted);
  const x = (v) =>
    LEFT + ((Math.min(hi, Math.max(lo, Math.log2(v))) - lo) / (hi - lo)) * (width - LEFT - 60);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Service ÷ baseline, measured in the same run</text>`,
    `<text x="10" y="38" fill="#555">median and range; ◆ goal: green met, red not, grey no ratio goal · ${escape(subtitle)}</text>`,
  ];
  for (let e = lo; e <= hi; e++) {
    const t = 2 ** e;
    const label = e < 0 ? `1/${2 ** -e}` : String(t);
    parts.push(
      `<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${height - 30}" stroke="${e === 0 ? '#333' : '#ddd'}"/>`,
    );
    parts.push(
      `<text x="${x(t)}" y="${height - 14}" text-anchor="middle" fill="#555">${label}×</text>`,
    );
  }
  plotted.forEach((row, i) => parts.push(...bar(row, top + i * (barH + gap), x, barH)));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export async function writeResults(dir, { rows, meta }) {
  const stamp = meta.startedAt.replace(/[:.]/g, '-');
  const json = JSON.stringify(
    {
      meta,
      rows: rows.map((row) => ({
        ...row,
        median: median(row.ratios ?? []),
        verdict: verdict(row),
      })),
    },
    null,
    2,
  );
  const subtitle = `${meta.startedAt.slice(0, 16).replace('T', ' ')} · ${meta.cpus} cores · database ${meta.database} · load ${meta.loadBefore}→${meta.loadAfter}${meta.short ? ' · short form' : ''}`;
  const svg = chart(rows, subtitle);
  await writeFile(`${dir}/bench-${stamp}.json`, json);
  await writeFile(`${dir}/latest.json`, json);
  await writeFile(`${dir}/ratios.svg`, svg);
  await writeFile(`${dir}/latest.md`, `${subtitle}\n\n${table(rows)}\n`);
}
