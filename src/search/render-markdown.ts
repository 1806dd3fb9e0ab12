/** The tune report as Markdown: the same data as --json (report.ts), as tables. */
import type { TuneReport } from './report';

export function renderMarkdownReport(r: TuneReport): string {
  const c = r.constraint;
  const fmt = (v: number | null): string => (v === null ? '∞' : String(Number(v.toFixed(4))));
  const lines: string[] = [];
  lines.push(`# mc tune: ${r.model}`, '');
  lines.push(`Constraint: --${c.name} ${c.limit} (${c.unit}). Size: ${r.sizeMeasure} bytes. ${r.trials.length} trial(s) (${r.reused} read back from the log), planned ${r.planned}; stopped: ${r.stopped}.`, '');
  if (r.best) {
    lines.push(`**${r.met ? 'Met' : 'Missed'}**: trial ${r.best.id}, ${c.name} ${fmt(r.best.value)} (slack ${fmt(r.best.slack)}), ${r.best.weightBytes} weight bytes, ${r.best.fileBytes} file bytes.`, '');
    if (r.noise) lines.push(`Sampling noise: ${r.noise.disagree} of ${r.noise.samples} samples change class against float, so a top-1 difference is known to about ±${r.noise.points.toFixed(2)} points.`, '');
  }
  if (r.plan.length) {
    const dims = r.dimensions.map((d) => d.name);
    lines.push('## Chosen plan', '', `| layer | ${dims.join(' | ')} |`, `|---|${dims.map(() => '---|').join('')}`);
    for (const p of r.plan) lines.push(`| ${p.layer} | ${dims.map((d) => String(p.choice[d])).join(' | ')} |`);
    lines.push('');
  }
  if (r.uniform.length) {
    lines.push('## Uniform plans (all data)', '', `| option | ${c.name} | passed | weight bytes | file bytes |`, '|---|---|---|---|---|');
    for (const u of r.uniform) lines.push(`| ${u.option} | ${fmt(u.trial.value)} | ${u.trial.passed ? 'yes' : 'no'} | ${u.trial.weightBytes} | ${u.trial.fileBytes} |`);
    lines.push('');
  }
  if (r.sensitivity.length) {
    const saved = r.objective.length === 1 && r.objective[0] === 'size' ? 'bytes saved' : `${r.objective.join(',')} objective saved`;
    lines.push('## Sensitivity', '', `| layer | dimension | rung | ${c.name} | cost | SQNR dB | ${saved} | trial |`, '|---|---|---|---|---|---|---|---|');
    for (const s of r.sensitivity) lines.push(`| ${s.layer} | ${s.dimension} | ${s.rung} | ${fmt(s.value)} | ${fmt(s.cost)} | ${s.sqnrDb === null ? '∞' : s.sqnrDb.toFixed(1)} | ${s.saved} | ${s.trial} |`);
    lines.push('');
  }
  lines.push('## Trials and Pareto front', '', '```', asciiScatter(r), '```', '');
  lines.push('## Pareto front', '', `| trial | scope | ${r.sizeMeasure} bytes | ${c.name} | passed |`, '|---|---|---|---|---|');
  for (const t of r.front) lines.push(`| ${t.id} | ${t.scope} | ${r.sizes[t.id]} | ${fmt(t.value)} | ${t.passed ? 'yes' : 'no'} |`);
  if (r.tradeoff?.length) {
    lines.push('', '## Size/latency trade-off (plans within the constraint)', '', `| trial | ${r.sizeMeasure} bytes | latency (estimate, ratio to float) | ${c.name} |`, '|---|---|---|---|');
    for (const t of r.tradeoff) lines.push(`| ${t.id} | ${r.sizes[t.id]} | ${t.latency === undefined ? '-' : t.latency.toFixed(3)} | ${fmt(t.value)} |`);
  }
  const lo = r.latencyObjective;
  if (lo) {
    lines.push('', `## Latency table (onnxruntime, 1 thread, batch ${lo.settings.batchSize}; each layer alone, ratio to float)`, '', '| layer | dimension | rung | ratio | spread |', '|---|---|---|---|---|');
    for (const e of lo.table) lines.push(`| ${e.layer} | ${e.dimension} | ${e.rung} | ${e.ratio === null ? 'cannot' : e.ratio.toFixed(3)} | ${e.spread.toFixed(3)} |`);
    if (lo.best) lines.push('', `Answer: ${lo.best.ratio === null ? 'not measured' : lo.best.ratio.toFixed(3)} of float end to end (table estimate ${lo.best.estimate.toFixed(3)}).`);
  }
  lines.push('', '## Trials', '', `| trial | phase | scope | ${r.sizeMeasure} bytes | ${c.name} | passed | ms |`, '|---|---|---|---|---|---|---|');
  for (const t of r.trials) lines.push(`| ${t.id} | ${t.phase} | ${t.scope} | ${r.sizes[t.id]} | ${t.error ? `error: ${t.error}` : fmt(t.value)} | ${t.passed ? 'yes' : 'no'} | ${t.ms} |`);
  return lines.join('\n') + '\n';
}

/**
 * Every trial on a character grid: x the size measure (log scale), y the constraint's value (worse is up
 * for a max- budget); `.` a trial, `o` a front plan, `@` the answer, `-` the limit.
 */
export function asciiScatter(r: TuneReport, width = 64, height = 16): string {
  const pts = r.trials.filter((t) => !t.error && t.value !== null).map((t) => ({ t, x: r.sizes[t.id], y: t.value as number }));
  if (!pts.length) return '(no trials)';
  const xs = pts.map((p) => p.x);
  const ys = [...pts.map((p) => p.y), r.constraint.limit];
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  // Log scale: the float plan is several times the int4 ones, which would crowd the rest into a column.
  const lx = (x: number): number => Math.log(Math.max(1, x));
  const col = (x: number): number => (x1 === x0 ? 0 : Math.round(((lx(x) - lx(x0)) / (lx(x1) - lx(x0))) * (width - 1)));
  const row = (y: number): number => (y1 === y0 ? height - 1 : height - 1 - Math.round(((y - y0) / (y1 - y0)) * (height - 1)));
  const grid = Array.from({ length: height }, () => Array<string>(width).fill(' '));
  const limit = row(r.constraint.limit);
  for (let c = 0; c < width; c++) grid[limit][c] = '-';
  const front = new Set(r.front.map((t) => t.id));
  const rank = (ch: string): number => ' -.o@'.indexOf(ch);
  const put = (x: number, y: number, ch: string): void => {
    const cell = grid[row(y)];
    if (rank(ch) > rank(cell[col(x)])) cell[col(x)] = ch;
  };
  for (const p of pts) put(p.x, p.y, front.has(p.t.id) ? 'o' : '.');
  if (r.best && r.best.value !== null) put(r.sizes[r.best.id], r.best.value, '@');
  const label = (v: number): string => String(Number(v.toFixed(2))).padStart(7);
  const lines = grid.map((cells, i) => `${i === 0 ? label(y1) : i === height - 1 ? label(y0) : i === limit ? label(r.constraint.limit) : ' '.repeat(7)} |${cells.join('')}`);
  lines.push(`${' '.repeat(8)}+${'-'.repeat(width)}`);
  lines.push(`${' '.repeat(9)}${String(x0).padEnd(width - String(x1).length)}${x1}`);
  lines.push(`${' '.repeat(9)}x: ${r.sizeMeasure} bytes (log scale); y: ${r.constraint.name}; . trial  o Pareto front  @ answer  - limit`);
  return lines.join('\n');
}
