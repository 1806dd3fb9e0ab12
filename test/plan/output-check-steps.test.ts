/**
 * The output check's back-off in a recipe whose steps set their own bits: a weight a step put at
 * int4 moves up its own ladder (int4 → int8), laid over its step's settings, rather than
 * straight to float because the rungs were measured at the run's settings.
 */
import * as path from 'path';
import { loadModel } from '../../src/formats';
import { applyPlan, parseRecipe } from '../../src/plan';
import { ROOT } from '../helpers/cli-run';

const FIX = path.join(ROOT, 'fixtures');

test('a mixed int4/int8 recipe with a bound backs conv2 off to int8, not float', async () => {
  const text = [
    'steps:',
    '  - quantize: { bits: 4, block-size: 16, min-output-sqnr: 35 }',
    '    layers: [conv2.weight]',
    '  - quantize: { bits: 8, min-output-sqnr: 35 }',
    '    layers: [conv3.weight, fc1.weight]',
  ].join('\n');
  const model = loadModel(path.join(FIX, 'cnn.onnx'));
  const r = await applyPlan(model, parseRecipe(text, path.join(FIX, 'mixed.yaml'), FIX), { label: 'cnn.onnx' });
  const q = r.results.find((x) => x.kind === 'quantize');
  if (q?.kind !== 'quantize' || !q.outputCheck) throw new Error('no output check ran');
  const check = q.outputCheck;
  // Meaningful only when the asked mix misses the bound: then something must move.
  expect(Math.min(...check.before.map((o) => o.sqnrDb ?? Infinity))).toBeLessThan(35);
  expect(check.passed).toBe(true);
  expect(Math.min(...check.after.map((o) => o.sqnrDb ?? Infinity))).toBeGreaterThanOrEqual(35);
  const conv2 = check.backedOff.find((b) => b.name === 'conv2.weight');
  expect(conv2?.to).toMatch(/int8/);
  // Nothing went to float that an int8 rung could have kept.
  expect(check.backedOff.filter((b) => b.to === 'float')).toEqual([]);
  expect(r.forms.find((f) => f.name === 'conv2.weight')?.form).toMatch(/^int8/);
}, 120_000);
