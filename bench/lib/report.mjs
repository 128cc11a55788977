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
 * A horizontal bar per row with a ratio: the median as the bar, the range as a whisker, the goal as
 * a marker (green bar when met, red when not). A log scale, so 0.25× and 4× are as far from 1×.
 */
export function chart(rows, subtitle) {
  const plotted = rows.filter((row) => row.ratios?.length && Number.isFinite(median(row.ratios)));
  const left = 330;
  const width = 860;
  const barH = 18;
  const gap = 8;
  const top = 56;
  const height = top + plotted.length * (barH + gap) + 40;
  const [min, max] = [1 / 64, 256];
  const x = (v) =>
    left +
    ((Math.log2(Math.min(max, Math.max(min, v))) - Math.log2(min)) /
      (Math.log2(max) - Math.log2(min))) *
      (width - left - 20);
  const ticks = [1 / 64, 1 / 16, 1 / 4, 1, 4, 16, 64, 256];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Service ÷ baseline, same run (median, range; ◆ goal)</text>`,
    `<text x="10" y="38" fill="#555">${escape(subtitle)}</text>`,
  ];
  for (const t of ticks) {
    const label = t < 1 ? `1/${1 / t}` : String(t);
    parts.push(
      `<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${height - 30}" stroke="${t === 1 ? '#333' : '#ddd'}"/>`,
    );
    parts.push(
      `<text x="${x(t)}" y="${height - 14}" text-anchor="middle" fill="#555">${label}×</text>`,
    );
  }
  plotted.forEach((row, i) => {
    const y = top + i * (barH + gap);
    const ratio = median(row.ratios);
    const [lo, hi] = range(row.ratios);
    const colour =
      verdict(row) === 'met' ? '#3a9d5d' : verdict(row) === 'NOT met' ? '#d0463b' : '#7a8ca3';
    const [a, b] = [x(Math.min(1, ratio)), x(Math.max(1, ratio))];
    parts.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${escape(row.what)}</text>`);
    parts.push(
      `<rect x="${a}" y="${y}" width="${Math.max(1, b - a)}" height="${barH}" fill="${colour}"/>`,
    );
    parts.push(
      `<line x1="${x(lo)}" y1="${y + barH / 2}" x2="${x(hi)}" y2="${y + barH / 2}" stroke="#222" stroke-width="1.5"/>`,
    );
    parts.push(`<text x="${b + 4}" y="${y + 13}" fill="#222">${fmt(ratio)}×</text>`);
    if (row.goal) {
      const g = x(row.goal.value);
      parts.push(
        `<path d="M${g} ${y - 2} l5 ${barH / 2 + 2} l-5 ${barH / 2 + 2} l-5 ${-(barH / 2 + 2)} z" fill="#111" fill-opacity="0.75"/>`,
      );
    }
  });
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
