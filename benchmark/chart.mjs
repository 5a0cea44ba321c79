// The results as an SVG bar chart, written by hand (no dependency): one group
// per workload, one bar per contender at its ratio to bare Koa's median, a
// whisker from its slowest to its fastest round, and the issue's target as a tick.

const COLORS = {
  bare: '#9e9e9e',
  'ours-memory-eager': '#1b7f5f',
  'ours-memory-defer': '#3fb58c',
  'ours-redis-eager': '#0b5a8a',
  'ours-redis-defer': '#4a9fd6',
  'ours-redis-cache': '#00897b',
  'ours-memory-nomerge': '#7fbfa8',
  'ours-redis-nomerge': '#7aa6c4',
  'kgs-memory': '#d9822b',
  'kgs-redis': '#f2b066',
  'koa-session-cookie': '#8e44ad',
  'koa-session-redis': '#c39bd3',
};

const escape = (text) =>
  String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

export function renderChart(report) {
  const rowLabel = (row) => row.label + (row.mode === 'defer' && !row.label.includes('defer') ? ', defer' : '');
  // about 6.2 px per character at 11 px
  const longest = Math.max(...report.workloads.flatMap((w) => w.rows.map((r) => rowLabel(r).length)));
  const labelWidth = Math.max(220, Math.ceil(16 + 6.2 * longest));
  const plotWidth = 460;
  const valueWidth = 150;
  const width = labelWidth + plotWidth + valueWidth + 20;
  const barHeight = 14;
  const barGap = 4;
  const groupGap = 30;
  const top = 64;
  const maxRatio = Math.max(
    1.1,
    ...report.workloads.flatMap((w) => w.rows.map((r) => (r.ratioMax ?? 0) + 0.05)),
  );
  const x = (ratio) => labelWidth + (Math.min(ratio, maxRatio) / maxRatio) * plotWidth;

  const parts = [];
  let y = top;
  for (const workload of report.workloads) {
    parts.push(
      `<text x="10" y="${y + 12}" class="group">${escape(workload.label)}</text>` +
        `<text x="${labelWidth}" y="${y + 12}" class="detail">${escape(workload.detail)}</text>`,
    );
    y += 22;
    for (const row of workload.rows) {
      const ratio = row.ratio ?? 0;
      const color = COLORS[row.contender.replace(/\+patch\d*$/, '')] ?? '#607d8b';
      const mid = y + barHeight / 2;
      const label = rowLabel(row);
      parts.push(
        `<text x="${labelWidth - 8}" y="${mid + 4}" class="label" text-anchor="end">${escape(label)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${(x(ratio) - labelWidth).toFixed(1)}" height="${barHeight}" fill="${color}"/>`,
      );
      if (row.ratioMin !== undefined && row.ratioMax !== undefined) {
        parts.push(
          `<line x1="${x(row.ratioMin).toFixed(1)}" x2="${x(row.ratioMax).toFixed(1)}" y1="${mid}" y2="${mid}" class="whisker"/>` +
            `<line x1="${x(row.ratioMin).toFixed(1)}" x2="${x(row.ratioMin).toFixed(1)}" y1="${mid - 4}" y2="${mid + 4}" class="whisker"/>` +
            `<line x1="${x(row.ratioMax).toFixed(1)}" x2="${x(row.ratioMax).toFixed(1)}" y1="${mid - 4}" y2="${mid + 4}" class="whisker"/>`,
        );
      }
      if (row.target?.ratio !== undefined) {
        parts.push(
          `<line x1="${x(row.target.ratio).toFixed(1)}" x2="${x(row.target.ratio).toFixed(1)}" y1="${y - 2}" y2="${y + barHeight + 2}" class="target"/>`,
        );
      }
      let value = `${ratio.toFixed(2)}×  ${Math.round(row.median).toLocaleString('en-US')}/s`;
      if (row.redisCommandsPerRequest !== undefined) value += `  ${row.redisCommandsPerRequest.toFixed(2)} cmd`;
      parts.push(
        `<text x="${labelWidth + plotWidth + 8}" y="${mid + 4}" class="value">${escape(value)}</text>`,
      );
      y += barHeight + barGap;
    }
    y += groupGap - barGap;
  }

  // axis: 0, 0.25, ... up to maxRatio, with a line at 1 (bare Koa)
  const axis = [];
  for (let t = 0; t <= maxRatio + 1e-9; t += 0.25) {
    axis.push(
      `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top - 6}" y2="${y - groupGap}" class="${Math.abs(t - 1) < 1e-9 ? 'one' : 'grid'}"/>` +
        `<text x="${x(t).toFixed(1)}" y="${top - 10}" class="tick" text-anchor="middle">${t.toFixed(2)}</text>`,
    );
  }
  const m = report.machine;
  const s = report.settings;
  const height = y + 30;
  const footer =
    `${m.cpu}, ${m.cores} cores, Node ${m.node}${m.redis ? `, redis-server ${m.redis}` : ''}; ` +
    `${s.rounds} rounds × ${s.duration} s, ${s.connections} connections; ${report.date.slice(0, 10)}. ` +
    `Whiskers: slowest to fastest round. Red ticks: the targets.`;

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">
<style>
  .title { font-size: 16px; font-weight: 600; fill: #222; }
  .group { font-size: 13px; font-weight: 600; fill: #222; }
  .detail { font-size: 11px; fill: #666; }
  .label { font-size: 11px; fill: #333; }
  .value { font-size: 11px; fill: #333; font-variant-numeric: tabular-nums; }
  .tick { font-size: 10px; fill: #666; }
  .grid { stroke: #e4e4e4; stroke-width: 1; }
  .one { stroke: #888; stroke-width: 1; stroke-dasharray: 4 3; }
  .whisker { stroke: #222; stroke-width: 1; }
  .target { stroke: #d32f2f; stroke-width: 2; }
  .footer { font-size: 10px; fill: #666; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="24" class="title">Requests per second, as a ratio of bare Koa's in the same run (higher is better)</text>
${axis.join('\n')}
${parts.join('\n')}
<text x="10" y="${height - 12}" class="footer">${escape(footer)}</text>
</svg>
`;
}
