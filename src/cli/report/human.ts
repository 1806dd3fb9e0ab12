import type { Chalk } from 'chalk';
import type { EvalReport } from '../../eval';
import { renderTable } from '../table';
import { budgetText, evalRows, settingsLine } from './rows';

/** The default report: a compact table (baseline, candidate, delta), per-layer worst list, then budgets in green/red. */
export function renderHuman(r: EvalReport, chalk: Chalk): string {
  const withBase = r.baseline !== null;
  const rows = evalRows(r).map((row) => {
    const delta = row.trend === 'better' ? chalk.green(row.delta) : row.trend === 'worse' ? chalk.red(row.delta) : row.delta;
    return withBase ? [row.label, row.baseline, row.candidate, delta] : [row.label, row.candidate];
  });
  const columns = withBase
    ? [{ header: '' }, { header: 'baseline', align: 'right' as const }, { header: 'candidate', align: 'right' as const }, { header: 'delta', align: 'right' as const }]
    : [{ header: '' }, { header: 'candidate', align: 'right' as const }];
  let out = withBase
    ? `${chalk.bold(r.candidate.path)} vs ${chalk.bold(r.baseline!.path)}\n`
    : `${chalk.bold(r.candidate.path)}\n`;
  out += renderTable(columns, rows, { indent: '  ', styleHeader: (s) => chalk.dim(s) });
  out += chalk.dim(`  ${settingsLine(r)}\n`);

  const layers = r.candidate.fidelity?.worstLayers;
  if (layers) {
    out += `\n  worst layers by SQNR (${r.candidate.fidelity?.layersCompared ?? 0} shared tensors compared)\n`;
    out += layers.length
      ? renderTable([{ header: 'tensor' }, { header: 'SQNR', align: 'right' }],
        layers.map((l) => [l.name, l.sqnrDb === null ? '∞ dB' : `${l.sqnrDb.toFixed(2)} dB`]), { indent: '    ', styleHeader: (s) => chalk.dim(s) })
      : '    (no intermediate tensor shares a name and shape with the baseline)\n';
  }
  if (r.budgets.length) {
    out += '\n  budgets\n';
    for (const b of r.budgets) {
      const mark = b.passed ? chalk.green('✔ pass') : chalk.red('✘ FAIL');
      out += `    ${mark}  ${b.name.padEnd(18)} ${budgetText(b)}\n`;
    }
  }
  return out;
}
