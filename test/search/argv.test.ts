/** `mc tune` flags → TuneCliOptions, as a table (parse only: nothing runs). */
import * as path from 'path';
import { parseDuration, parseTuneFlags } from '../../src/cli/commands/tune';

const CNN = path.join(__dirname, '..', '..', 'fixtures', 'cnn.onnx');

const base = { data: 'x.npy', labels: 'y.npy', maxAccuracyDrop: 0.5, objective: 'size', space: 'quantize', options: 'int4,int8,float', sparsities: '0.25,0.5,0.75', strategy: 'auto', population: '16', seed: '0', subset: '1' };

test.each([
  [{}, { constraint: { maxAccuracyDrop: 0.5 }, space: ['quantize'], options: ['int4', 'int8', 'float'], strategy: 'greedy', sizeMeasure: 'weights', subset: 1, output: CNN.replace(/\.onnx$/, '.tuned.onnx'), log: CNN.replace(/\.onnx$/, '.tuned.tune.jsonl'), resume: false }],
  [{ options: 'float,int4-b128,int8' }, { options: ['float', 'int4-b128', 'int8'] }],
  [{ space: 'quantize,prune' }, { space: ['quantize', 'prune'], sizeMeasure: 'gzip', sparsities: [0.25, 0.5, 0.75] }],
  [{ strategy: 'evolve', seed: '7', population: '8' }, { strategy: 'evolve', seed: 7, population: 8 }],
  [{ maxTrials: '20', timeBudget: '10m' }, { maxTrials: 20, timeBudgetMs: 600_000 }],
  [{ resume: 'r.jsonl', output: 'b.onnx' }, { log: 'r.jsonl', resume: true, output: 'b.onnx' }],
  [{ subset: '0.2', size: 'file' }, { subset: 0.2, sizeMeasure: 'file' }],
  [{ maxAccuracyDrop: undefined, minAgreement: 0.99 }, { constraint: { minAgreement: 0.99 } }],
  [{ space: 'channels', finetuneData: 't.npy', finetuneSamples: '640', finetuneLr: '0.01' }, { finetune: { data: 't.npy', samples: 640, lr: 0.01 } }],
  [{ objective: 'latency' }, { objective: ['latency'], strategy: 'greedy', latencyObjective: { runs: 40, repeats: 3, batchSize: 32 } }],
  [{ objective: 'latency,size', latencyTable: 't.json', latencyRepeats: '5' }, { objective: ['size', 'latency'], strategy: 'evolve', latencyObjective: { runs: 40, repeats: 5, batchSize: 32, table: 't.json' } }],
  [{ objective: 'size,latency', strategy: 'greedy' }, { objective: ['size', 'latency'], strategy: 'greedy' }],
  [{ objective: 'latency', space: 'channels' }, { objective: ['latency'], latency: { maxLatencyRatio: null } }],
  [{ space: 'static', calib: 'c.npy', calibMethods: 'mse,percentile@99.99,percentile' }, { space: ['static'], calibMethods: ['mse', 'percentile@99.99', 'percentile'] }],
])('%j', (flags, want) => {
  expect(parseTuneFlags(CNN, { ...base, ...flags })).toMatchObject(want);
});

test.each([
  [{ maxAccuracyDrop: undefined }, /exactly one constraint/],
  [{ minAgreement: 0.9 }, /exactly one constraint/],
  [{ objective: 'speed' }, /--objective must be size, latency or size,latency/],
  [{ space: 'static', calib: 'c.npy', calibMethods: 'percentile@0' }, /--calib-methods: each must be/],
  [{ space: 'static', calib: 'c.npy', calibMethods: 'kl' }, /--calib-methods: each must be/],
  [{ space: 'static' }, /--space static needs --calib/],
  [{ objective: 'size,size' }, /--objective must be/],
  [{ maxLatencyRatio: 0.7 }, /a latency budget is searched over --space channels alone/],
  [{ space: 'channels,prune' }, /channels and prune both prune/],
  [{ space: 'bits' }, /--space must be one of/],
  [{ options: 'int3' }, /--options: each must be/],
  [{ options: 'int4-b24' }, /--options: each must be/],
  [{ sparsities: '1.5' }, /between 0 and 1/],
  [{ subset: '0' }, /--subset must be in/],
  [{ timeBudget: 'soon' }, /--time-budget must be a duration/],
  [{ resume: 'a.jsonl', log: 'b.jsonl' }, /--resume continues its own log/],
  [{ finetuneSamples: '10' }, /--finetune-samples needs --finetune-data/],
  [{ space: 'channels', finetuneData: 't.npy', finetuneLr: '-1' }, /--finetune-lr must be above 0/],
])('refuses %j', (flags, message) => {
  expect(() => parseTuneFlags(CNN, { ...base, ...flags })).toThrow(message);
});

test('durations', () => {
  expect(parseDuration('90s')).toBe(90_000);
  expect(parseDuration('1.5h')).toBe(5_400_000);
  expect(parseDuration('300')).toBe(300_000);
});
