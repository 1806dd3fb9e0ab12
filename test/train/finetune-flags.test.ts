/** `mc finetune` argv → typed options, as a table (commander's camelCase keys). */
import { parseFinetuneFlags } from '../../src/cli/commands/finetune';

const base = { data: 'x.npy' };

test('defaults', () => {
  const o = parseFinetuneFlags('m.onnx', base);
  expect(o.settings).toEqual({
    loss: 'kd', temperature: 2, alpha: 0.5, epochs: 1, batchSize: 32, samples: undefined,
    optimizer: { kind: 'adam', momentum: 0.9, weightDecay: 0 }, lr: 0.001, schedule: 'cosine', warmup: 0.05,
    earlyStop: undefined, seed: 0, bnRecalibrate: false, bnMode: 'frozen',
  });
  expect(o.teacher).toBeUndefined();
});

test.each([
  [{ lr: 'find' }, { lr: 'find' }],
  [{ lr: '3e-4', schedule: 'onecycle', optimizer: 'adamw', weightDecay: '0.01' }, { lr: 3e-4, schedule: 'onecycle', optimizer: { kind: 'adamw', momentum: 0.9, weightDecay: 0.01 } }],
  [{ loss: 'kd+ce', temperature: '4', alpha: '0.7' }, { loss: 'kd+ce', temperature: 4, alpha: 0.7 }],
  [{ epochs: '3', batchSize: '64', earlyStop: '2', seed: '9', bnRecalibrate: true }, { epochs: 3, batchSize: 64, earlyStop: 2, seed: 9, bnRecalibrate: true }],
  [{ bnMode: 'train' }, { bnMode: 'train' }],
])('%j', (flags, want) => {
  expect(parseFinetuneFlags('m.onnx', { ...base, ...flags }).settings).toMatchObject(want);
});

test.each([
  [{ lr: '0' }, /--lr must be positive/],
  [{ lr: 'fast' }, /--lr/],
  [{ loss: 'l1' }, /--loss/],
  [{ schedule: 'linear' }, /--schedule/],
  [{ optimizer: 'lamb' }, /--optimizer/],
  [{ warmup: '1' }, /--warmup must be in \[0, 1\)/],
  [{ temperature: '0' }, /--temperature must be positive/],
  [{ epochs: '0' }, /--epochs/],
  [{ bnMode: 'batch' }, /--bn-mode/],
])('refuses %j', (flags, message) => {
  expect(() => parseFinetuneFlags('m.onnx', { ...base, ...flags })).toThrow(message);
});
