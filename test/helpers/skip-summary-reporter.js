'use strict';
/**
 * A jest reporter that repeats, after the run, every line the dependency gate
 * (test/helpers/require-dep.ts) printed: each loud skip (`SKIPPED: ...`, `SKIPPED (opt-in): ...`)
 * and each required dependency found missing (`FAIL ... is required ...`), with its test file,
 * so they are not lost in the middle of the output. It reads the buffered console that jest
 * keeps per test file (not kept with --verbose, where those lines print as they happen).
 */
const path = require('path');

const GATE_LINE = /^(SKIPPED(?: \(opt-in\))?: |FAIL \S+ is required )/;

class SkipSummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.lines = [];
  }

  onTestResult(_test, result) {
    for (const entry of result.console || []) {
      if (GATE_LINE.test(entry.message)) this.lines.push(`${path.relative(this.rootDir, result.testFilePath)}: ${entry.message}`);
    }
  }

  onRunComplete() {
    if (this.lines.length === 0) return;
    const unique = [...new Set(this.lines)].sort();
    process.stderr.write(`\nTests gated by test/helpers/require-dep.ts that did not run (docs/testing.md):\n${unique.map((l) => `  ${l}`).join('\n')}\n`);
  }
}

module.exports = SkipSummaryReporter;
