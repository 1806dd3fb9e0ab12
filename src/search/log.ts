/**
 * The trial log: JSON lines, a header naming the search, then one line per
 * trial, appended as each one finishes, so an interrupted search loses at
 * most the trial it was running. `--resume` reads the records back; the
 * search is deterministic given its records, so it asks for the same trials
 * in the same order and each one already logged is read, not run again.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UsageError, InputError } from '../errors';
import type { TrialRecord } from './types';

/** What makes two searches the same search (what a resumed log must match). */
export interface LogHeader {
  type: 'header';
  mcVersion: string;
  search: Record<string, unknown>;
}

export class TrialLog {
  private constructor(private readonly file: string, readonly records: Map<string, TrialRecord>) {}

  /**
   * Opens `file` for a search described by `header`. Without `resume` the file is started afresh;
   * with it, the file must exist and its header's search must equal this one.
   */
  static open(file: string, header: LogHeader, resume: boolean): TrialLog {
    const records = new Map<string, TrialRecord>();
    if (resume) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new InputError(`cannot read the trial log to resume: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
      }
      const lines = text.split('\n');
      // A line cut short by a kill is the trial that was running: dropped, it is run again.
      if (lines.length && lines[lines.length - 1] !== '') lines.pop();
      const parsed = lines.filter((l) => l.trim() !== '').map((l, i) => {
        try {
          return JSON.parse(l) as LogHeader | TrialRecord;
        } catch {
          throw new InputError(`line ${i + 1} is not JSON`, file);
        }
      });
      const head = parsed[0];
      if (!head || head.type !== 'header') throw new InputError('not an mc tune log (no header line)', file);
      const want = JSON.stringify(header.search);
      const got = JSON.stringify(head.search);
      if (want !== got) throw new UsageError(`${file}: the log is of another search (${diff(head.search, header.search)}); resume with the same model, data, constraint, space and seed`);
      for (const r of parsed.slice(1)) if (r.type === 'trial') records.set(r.key, r);
      // Rewrite without a partial last line, so appends start on a fresh line.
      fs.writeFileSync(file, parsed.map((r) => JSON.stringify(r) + '\n').join(''));
    } else {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(header) + '\n');
    }
    return new TrialLog(file, records);
  }

  append(r: TrialRecord): void {
    fs.appendFileSync(this.file, JSON.stringify(r) + '\n');
  }
}

function diff(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return keys.map((k) => `${k}: ${JSON.stringify(a[k])} in the log, ${JSON.stringify(b[k])} now`).join('; ');
}

/** Reads every trial record of a log (tests, reports). */
export function readTrials(file: string): TrialRecord[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogHeader | TrialRecord)
    .filter((r): r is TrialRecord => r.type === 'trial');
}
