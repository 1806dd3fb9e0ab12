import type { EvalReport } from '../../eval';
import { budgetText } from './rows';

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * JUnit XML (the de-facto schema CI servers read: testsuites > testsuite >
 * testcase, a <failure> child marking a failed case): one testcase per budget.
 */
export function renderJUnit(r: EvalReport): string {
  const failures = r.budgets.filter((b) => !b.passed).length;
  const suite = `mc eval ${r.candidate.path}`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="mc eval" tests="${r.budgets.length}" failures="${failures}" errors="0">`,
    `  <testsuite name="${xml(suite)}" tests="${r.budgets.length}" failures="${failures}" errors="0" skipped="0">`,
  ];
  for (const b of r.budgets) {
    const head = `    <testcase classname="mc.eval.budgets" name="${xml(b.name)}"`;
    if (b.passed) {
      lines.push(`${head}/>`);
    } else {
      const msg = `--${b.name} broken: ${budgetText(b)}`;
      lines.push(`${head}>`, `      <failure type="BudgetBroken" message="${xml(msg)}">${xml(msg)}</failure>`, '    </testcase>');
    }
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
