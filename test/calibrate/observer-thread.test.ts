/**
 * The observer thread (histogram binning in a worker, overlapped with
 * onnxruntime) against binning on the main thread: ranges must be IDENTICAL
 * (Object.is on every min and max, same tensors in the same order), warnings
 * too. The worker script exists only compiled, so these tests load dist/
 * (`npm run build` first; a stale build of src/calibrate fails them). Under
 * ts-jest (src/) calibrate falls back to the main thread.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { calibrate as calibrateSrc } from '../../src/calibrate';
import { rebuildError } from '../../src/calibrate/observer-thread';
import { InputError, McError, UsageError } from '../../src/errors';
import { buildCnn, uniform, writeNpy } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const FIX = path.join(ROOT, 'fixtures');

/** dist/<p>, after checking every src/calibrate/*.ts has a compiled .js no older than itself. */
function dist<T>(p: string): T {
  const src = path.join(ROOT, 'src', 'calibrate');
  for (const f of fs.readdirSync(src).filter((f) => f.endsWith('.ts'))) {
    const js = path.join(ROOT, 'dist', 'calibrate', f.replace(/\.ts$/, '.js'));
    if (!fs.existsSync(js)) throw new Error(`${js} is missing: run \`npm run build\` before this test`);
    if (fs.statSync(js).mtimeMs < fs.statSync(path.join(src, f)).mtimeMs) throw new Error(`dist/ is older than src/calibrate/${f}: run \`npm run build\``);
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require(path.join(ROOT, 'dist', p)) as T;
}

interface Range { min: number; max: number }
interface Result { ranges: Map<string, Range>; warnings: string[]; batches: number; observedIn: string }
type Calibrate = (model: unknown, tensors: string[], data: string, o: Record<string, unknown>) => Promise<Result>;

const { calibrate } = dist<{ calibrate: Calibrate }>('calibrate');
const { loadOnnx } = dist<{ loadOnnx: (f: string) => { graph: { nodes: { outputs: { name: string }[] }[] } } }>('formats/onnx');

function expectIdentical(a: Result, b: Result): void {
  expect([...b.ranges.keys()]).toEqual([...a.ranges.keys()]);
  const differ: string[] = [];
  for (const [name, r] of a.ranges) {
    const s = b.ranges.get(name)!;
    if (!Object.is(r.min, s.min) || !Object.is(r.max, s.max)) differ.push(`${name}: [${r.min}, ${r.max}] vs [${s.min}, ${s.max}]`);
  }
  expect(differ).toEqual([]);
  expect(b.warnings).toEqual(a.warnings);
}

describe('observer thread (dist)', () => {
  const model = loadOnnx(path.join(FIX, 'cnn.onnx'));
  const tensors = ['input', ...model.graph.nodes.flatMap((n) => n.outputs.map((o) => o.name))];
  const data = path.join(FIX, 'calib-x.npy');

  test.each(['percentile', 'entropy', 'mse'])('%s: ranges from the worker are identical to the main thread', async (method) => {
    const main = await calibrate(model, tensors, data, { method, batchSize: 16, threads: 1, observeIn: 'main' });
    const worker = await calibrate(model, tensors, data, { method, batchSize: 16, threads: 1, observeIn: 'worker' });
    expect(main.observedIn).toBe('main');
    expect(worker.observedIn).toBe('worker');
    expect(worker.batches).toBe(16);
    expect(main.ranges.size).toBe(tensors.length);
    // Not trivially equal: every tensor saw data, and the ranges differ between tensors.
    expect([...main.ranges.values()].filter((r) => r.max > r.min).length).toBe(tensors.length);
    expect(new Set([...main.ranges.values()].map((r) => r.max)).size).toBeGreaterThan(tensors.length / 2);
    expectIdentical(main, worker);
  });

  test("'auto' uses the worker from 4 batches on with a core free, the main thread otherwise", async () => {
    const big = await calibrate(model, tensors, data, { method: 'percentile', batchSize: 64, threads: 1 });
    const small = await calibrate(model, tensors, data, { method: 'percentile', batchSize: 64, samples: 192, threads: 1 });
    const busy = await calibrate(model, tensors, data, { method: 'percentile', batchSize: 64, threads: os.availableParallelism() });
    const minmax = await calibrate(model, tensors, data, { method: 'minmax', batchSize: 16, threads: 1, observeIn: 'worker' });
    // The worker needs a core onnxruntime leaves free.
    expect([big.batches, big.observedIn]).toEqual([4, os.availableParallelism() > 1 ? 'worker' : 'main']);
    expect([busy.batches, busy.observedIn]).toEqual([4, 'main']);
    expect([small.batches, small.observedIn]).toEqual([3, 'main']);
    expect(minmax.observedIn).toBe('main');
  });

  test('odd outputs (non-float32, views into a shared buffer, NaN/±Inf) give the same ranges and warnings', async () => {
    const names = model.graph.nodes.flatMap((n) => n.outputs.map((o) => o.name));
    // A stand-in runner: each fetched tensor is derived from the batch; one comes back int32,
    // two are views into one buffer (not movable: copied), some batches hold NaN and ±Inf.
    let call = 0;
    const createRunner = async () => (call = 0, {
      runtime: 'fake', backend: 'cpu', threads: 1, inputs: [{ name: 'input' }], outputs: [],
      async run(feeds: Map<string, { data: Float32Array }>, fetch: string[]) {
        const x = feeds.get('input')!.data;
        const scale = 1 + (call++ % 7); // batches differ in range: dropping or reordering one shows
        const out = new Map<string, unknown>();
        const shared = new ArrayBuffer(2 * 4 * 1000);
        fetch.forEach((name, i) => {
          if (i === 1) return out.set(name, { dtype: 'int32', shape: [x.length], data: new Int32Array(x.length) });
          const d = i === 2 || i === 3 ? new Float32Array(shared, (i - 2) * 4000, 1000) : new Float32Array(x.length + i);
          for (let k = 0; k < d.length; k++) d[k] = (x[(k * 7) % x.length] - 0.3) * (i + 1) * scale * (k % 3 ? 1 : -2);
          if (i === 4 && x[0] > 0.5) d[5] = NaN;
          if (i === 5 && x[1] > 0.5) d[9] = -Infinity;
          out.set(name, { dtype: 'float32', shape: [d.length], data: d });
        });
        return out;
      },
      async dispose() {},
    });
    for (const method of ['percentile', 'entropy', 'mse']) {
      const main = await calibrate(model, names, data, { method, batchSize: 16, createRunner, observeIn: 'main' });
      const worker = await calibrate(model, names, data, { method, batchSize: 16, createRunner, observeIn: 'worker' });
      expect(worker.observedIn).toBe('worker');
      expect(main.warnings).toEqual([`${names[1]}: int32, not float32; left unobserved`]);
      expect(main.ranges.has(names[1])).toBe(false);
      expectIdentical(main, worker);
    }
  });
});

describe('observer thread (src, ts-jest)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-obs-thread-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('without the compiled worker, auto bins on the main thread and forcing the worker is a UsageError', async () => {
    const file = path.join(dir, 'x.npy');
    writeNpy(file, uniform(8 * 144, 3, 0, 1), [8, 1, 12, 12]);
    const m = buildCnn(1, 4, 4, 12);
    const r = await calibrateSrc(m, ['conv1_out'], file, { method: 'percentile', batchSize: 1, threads: 1 });
    expect([r.batches, r.observedIn]).toEqual([8, 'main']);
    expect(r.ranges.get('conv1_out')!.max).toBeGreaterThan(0);
    await expect(calibrateSrc(m, ['conv1_out'], file, { method: 'percentile', observeIn: 'worker' })).rejects.toThrow(UsageError);
  });

  test('an error from the worker comes back as the same typed error', () => {
    const e = rebuildError({ name: 'InputError', message: 'calib.npy: bad', file: 'calib.npy' });
    expect(e).toBeInstanceOf(InputError);
    expect([e.message, (e as InputError).file, (e as InputError).exitCode]).toEqual(['calib.npy: bad', 'calib.npy', 2]);
    expect(rebuildError({ name: 'RangeError', message: 'too big' })).toBeInstanceOf(RangeError);
    const odd = rebuildError({ name: 'SomethingElse', message: 'x' });
    expect(odd).toBeInstanceOf(McError);
    expect(odd.message).toBe('x');
  });
});
