/**
 * The layer-input schedule (src/pipeline/reconstruct-schedule.ts) against a
 * forward pass written here in float64: a model with a grouped conv
 * (one input channel per group), a 2-group strided conv, two MatMuls reading
 * the same input (one depth: one pass) and a MatMul + Add. Each layer's H and
 * E[x] must be those of its inputs with every earlier layer already replaced
 * (the callback scales W by 0.75, so a schedule that read the original model
 * would differ), with 4 passes for 5 layers.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Graph, intAttr, intsAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { UnsupportedError } from '../../src/errors';
import { findLayers, GramIn, LayerInputs, reconstructSequential } from '../../src/pipeline/reconstruct-schedule';
import { floats } from '../helpers/onnx-build';
import { npyHeader } from '../data/helpers';

const N = 10;
const IN = [3, 6, 6];

function buildModel(): Model {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['N', ...IN] });
  g.inputs.push(x);
  const w = (name: string, shape: number[], seed: number): Value => g.addInitializer(name, Tensor.fromArray('float32', shape, floats(shape.reduce((a, b) => a * b, 1), seed).map((v) => v * 0.5), name));
  const v = (name: string): Value => new Value(name);
  const a = v('a'); const ar = v('ar'); const b = v('b'); const f = v('f'); const m1 = v('m1'); const m2 = v('m2'); const s = v('s'); const m3 = v('m3');
  const y = new Value('y', { dtype: 'float32', shape: ['N', 5] });
  g.addNode(new Node({ opType: 'Conv', name: 'conv_a', inputs: [x, w('wa', [6, 1, 3, 3], 2)], outputs: [a], attributes: [intAttr('group', 3), intsAttr('pads', [1, 1, 1, 1]), intsAttr('kernel_shape', [3, 3])] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [a], outputs: [ar] }));
  g.addNode(new Node({ opType: 'Conv', name: 'conv_b', inputs: [ar, w('wb', [4, 3, 3, 3], 3), w('bb', [4], 4)], outputs: [b], attributes: [intAttr('group', 2), intsAttr('pads', [1, 0, 1, 0]), intsAttr('strides', [2, 2])] }));
  g.addNode(new Node({ opType: 'Flatten', name: 'flat', inputs: [b], outputs: [f], attributes: [intAttr('axis', 1)] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'mm1', inputs: [f, w('w1', [24, 8], 5)], outputs: [m1] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'mm2', inputs: [f, w('w2', [24, 8], 6)], outputs: [m2] }));
  g.addNode(new Node({ opType: 'Add', name: 'sum', inputs: [m1, m2], outputs: [s] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'mm3', inputs: [s, w('w3', [8, 5], 7)], outputs: [m3] }));
  g.addNode(new Node({ opType: 'Add', name: 'bias', inputs: [m3, w('b3', [5], 8)], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 17 }];
  return m;
}

/** Conv in float64, NCHW, explicit pads [t, l, b, r]. */
function conv(x: Float64Array, [n, c, ih, iw]: number[], w: ArrayLike<number>, [m, cg, kh, kw]: number[], bias: ArrayLike<number> | undefined, group: number, pads: number[], stride: number): { y: Float64Array; shape: number[]; patches: Float64Array[][] } {
  const oh = Math.floor((ih + pads[0] + pads[2] - kh) / stride) + 1;
  const ow = Math.floor((iw + pads[1] + pads[3] - kw) / stride) + 1;
  const y = new Float64Array(n * m * oh * ow);
  const mg = m / group;
  // patches[g] = list of im2col rows (for the reference H)
  const patches: Float64Array[][] = Array.from({ length: group }, () => []);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let gi = 0; gi < group; gi++) {
          const p = new Float64Array(cg * kh * kw);
          for (let cc = 0; cc < cg; cc++) {
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kw; kx++) {
                const yy = oy * stride - pads[0] + ky;
                const xx = ox * stride - pads[1] + kx;
                p[(cc * kh + ky) * kw + kx] = yy >= 0 && yy < ih && xx >= 0 && xx < iw ? x[((b * c + gi * cg + cc) * ih + yy) * iw + xx] : 0;
              }
            }
          }
          patches[gi].push(p);
          for (let o = 0; o < mg; o++) {
            const mo = gi * mg + o;
            let s = bias ? bias[mo] : 0;
            for (let j = 0; j < p.length; j++) s += w[mo * p.length + j] * p[j];
            y[((b * m + mo) * oh + oy) * ow + ox] = s;
          }
        }
      }
    }
  }
  return { y, shape: [n, m, oh, ow], patches };
}

function matmul(x: Float64Array, rows: number, k: number, b: ArrayLike<number>, n: number): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) { let s = 0; for (let i = 0; i < k; i++) s += x[r * k + i] * b[i * n + j]; y[r * n + j] = s; }
  return y;
}

function rowsOf(x: Float64Array, k: number): Float64Array[] {
  return Array.from({ length: x.length / k }, (_, r) => x.subarray(r * k, (r + 1) * k));
}

/** 2·Σ xxᵀ / samples, and the mean row. */
function reference(rows: Float64Array[], samples: number): { h: Float64Array; mean: Float64Array } {
  const k = rows[0].length;
  const h = new Float64Array(k * k);
  const mean = new Float64Array(k);
  for (const r of rows) for (let i = 0; i < k; i++) { mean[i] += r[i] / rows.length; for (let j = 0; j < k; j++) h[i * k + j] += (2 * r[i] * r[j]) / samples; }
  return { h, mean };
}

function closeTo(got: Float64Array, want: Float64Array, what: string): void {
  const scale = Math.max(...want.map(Math.abs), 1e-12);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / scale);
  if (worst > 1e-5) throw new Error(`${what}: relative error ${worst}`);
}

describe('reconstructSequential', () => {
  let dir: string;
  let dataFile: string;
  const input = floats(N * IN.reduce((a, b) => a * b, 1), 11);
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-sched-'));
    dataFile = path.join(dir, 'x.npy');
    fs.writeFileSync(dataFile, Buffer.concat([npyHeader('<f4', [N, ...IN]), Buffer.from(input.buffer)]));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function run(model: Model, gramIn: GramIn = 'onnxruntime'): Promise<{ seen: Map<string, LayerInputs[]>; passes: number; out: Model }> {
    const { layers, skipped } = findLayers(model);
    expect(skipped).toEqual([]);
    const seen = new Map<string, LayerInputs[]>();
    const r = await reconstructSequential(model, layers, dataFile, (li) => {
      seen.set(li.layer.name, [...(seen.get(li.layer.name) ?? []), li]);
      return { weight: li.w.map((v) => Math.fround(v * 0.75)) };
    }, { batchSize: 4, gramIn });
    return { seen, passes: r.passes, out: r.model };
  }

  it.each(['onnxruntime', 'mc'] as const)('collects each layer\'s H and E[x] with the earlier layers replaced, one pass per depth (XᵀX in %s)', async (gramIn) => {
    const model = buildModel();
    const { layers } = findLayers(model);
    expect(layers.map((l) => [l.name, l.depth, l.groups, l.rows, l.cols])).toEqual([
      ['wa', 0, 3, 2, 9], ['wb', 1, 2, 2, 27], ['w1', 2, 1, 8, 24], ['w2', 2, 1, 8, 24], ['w3', 3, 1, 5, 8],
    ]);
    const { seen, passes, out } = await run(model, gramIn);
    expect(passes).toBe(4);
    // the forward pass with every weight scaled by 0.75 (what each later layer must have seen)
    const c = (name: string): Float32Array => model.graph.initializers.find((v) => v.name === name)!.const!.toFloat32();
    const sc = (a: Float32Array): Float32Array => a.map((v) => Math.fround(v * 0.75));
    const x = Float64Array.from(input);
    const ca = conv(x, [N, ...IN], sc(c('wa')), [6, 1, 3, 3], undefined, 3, [1, 1, 1, 1], 1);
    const relu = ca.y.map((v) => Math.max(0, v));
    const cb = conv(relu, ca.shape, sc(c('wb')), [4, 3, 3, 3], c('bb'), 2, [1, 0, 1, 0], 2);
    const flat = cb.y; // [N, 24]
    const s = matmul(flat, N, 24, sc(c('w1')), 8).map((v, i) => v + matmul(flat, N, 24, sc(c('w2')), 8)[i]);
    const want: [string, number, Float64Array[]][] = [
      ['wa', 0, ca.patches[0]], ['wa', 2, ca.patches[2]], ['wb', 1, cb.patches[1]],
      ['w1', 0, rowsOf(flat, 24)], ['w2', 0, rowsOf(flat, 24)], ['w3', 0, rowsOf(s, 8)],
    ];
    for (const [name, g, rows] of want) {
      const got = seen.get(name)![g];
      expect(got.samples).toBe(N);
      expect(got.rowsSeen).toBe(rows.length);
      const ref = reference(rows, N);
      closeTo(got.h, ref.h, `H of ${name} group ${g}`);
      closeTo(got.mean, ref.mean, `E[x] of ${name} group ${g}`);
    }
    // the callback sees W rows in W orientation: MatMul B [24, 8] → W = Bᵀ
    expect(Array.from(seen.get('w1')![0].w.subarray(0, 3))).toEqual([c('w1')[0], c('w1')[8], c('w1')[16]]);
    // and the working model holds the replacements in the weight's own layout; the input model is untouched
    const outW1 = out.graph.initializers.find((v) => v.name === 'w1')!.const!.toFloat32();
    expect(Array.from(outW1)).toEqual(Array.from(sc(c('w1'))));
    expect(c('w1')[0]).not.toBe(outW1[0]);
  });

  it('is deterministic: two runs see the same bytes', async () => {
    const a = await run(buildModel());
    const b = await run(buildModel());
    for (const [name, list] of a.seen) {
      list.forEach((li, g) => {
        expect(Buffer.from(li.h.buffer).equals(Buffer.from(b.seen.get(name)![g].h.buffer))).toBe(true);
      });
    }
  });

  it('refuses a layer whose float64 H does not fit, naming it and the bytes', async () => {
    const model = buildModel();
    const { layers } = findLayers(model);
    await expect(reconstructSequential(model, layers, dataFile, (li) => ({ weight: li.w }), { memoryLimitBytes: 8000 }))
      .rejects.toThrow(UnsupportedError);
    await expect(reconstructSequential(model, layers, dataFile, (li) => ({ weight: li.w }), { memoryLimitBytes: 8000 }))
      .rejects.toThrow(/layer 'wb' needs .* MiB .*27×27/);
  });

  it('rejects data that does not fit the model', async () => {
    const bad = path.join(dir, 'bad.npy');
    fs.writeFileSync(bad, Buffer.concat([npyHeader('<f4', [2, 5]), Buffer.alloc(40)]));
    const model = buildModel();
    await expect(reconstructSequential(model, findLayers(model).layers, bad, (li) => ({ weight: li.w }))).rejects.toThrow(/shape|input/i);
  });
});
