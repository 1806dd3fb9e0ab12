/**
 * The corpus suite's parameter oracle (onnx_params.py) on a model it builds by hand, with one constant
 * of each kind (initializer, Constant value/value_float/value_floats/value_ints, bool, an int8 weight read
 * by DequantizeLinear inside an If branch through the outer scope, int64 shapes): its count equals the sum
 * written out in the script, and `mc inspect` counts the same. Needs no corpus.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runMc } from '../helpers/cli-run';

describe('onnx_params.py', () => {
  it('counts a hand-built model as written out, and mc inspect agrees', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-onnx-params-'));
    try {
      const out = execFileSync('/usr/bin/python3', [path.join(__dirname, 'onnx_params.py'), '--self-test', dir], { encoding: 'utf8' });
      const counted = JSON.parse(out) as { path: string; parameters: number };
      expect(counted.parameters).toBe(19);
      const r = runMc(['inspect', '--json', counted.path]);
      expect(r.code).toBe(0);
      expect((JSON.parse(r.stdout) as { parameters: number }).parameters).toBe(19);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
