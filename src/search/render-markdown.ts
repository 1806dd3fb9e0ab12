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
    lines.push('## Sensitivity', '', `| layer | dimension | rung | ${c.name} | cost | SQNR dB | bytes saved | trial |`, '|---|---|---|---|---|---|---|---|');
    for (const s of r.sensitivity) lines.push(`| ${s.layer} | ${s.dimension} | ${s.rung} | ${fmt(s.value)} | ${fmt(s.cost)} | ${s.sqnrDb === null ? '∞' : s.sqnrDb.toFixed(1)} | ${s.saved} | ${s.trial} |`);
    lines.push('');
  }
  lines.push('## Pareto front', '', `| trial | scope | ${r.sizeMeasure} bytes | ${c.name} | passed |`, '|---|---|---|---|---|');
  for (const t of r.front) lines.push(`| ${t.id} | ${t.scope} | ${r.sizes[t.id]} | ${fmt(t.value)} | ${t.passed ? 'yes' : 'no'} |`);
  lines.push('', '## Trials', '', `| trial | phase | scope | ${r.sizeMeasure} bytes | ${c.name} | passed | ms |`, '|---|---|---|---|---|---|---|');
  for (const t of r.trials) lines.push(`| ${t.id} | ${t.phase} | ${t.scope} | ${r.sizes[t.id]} | ${t.error ? `error: ${t.error}` : fmt(t.value)} | ${t.passed ? 'yes' : 'no'} | ${t.ms} |`);
  return lines.join('\n') + '\n';
}
