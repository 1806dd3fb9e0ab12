/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Channel pruning over the dependency graph, on small models built here. The oracle
 * for every coupled group: the ORIGINAL model, with the input-channel weights of
 * every consumer of a removed channel set to zero (a Conv's W[:, c], a Gemm's rows
 * for c), computes exactly what the pruned model computes: nothing but those weights
 * mixes channels, so a channel they no longer read cannot reach any output. Both run
 * in onnxruntime and must agree to 1e-5. Which channels were removed is read off the
 * pruned producers' filters, not from mc's report.
 */
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { buildChannelGraph } from '../../src/graph/channel-deps';
import { constantNodeTensor } from '../../src/graph/constants';
import { intAttr, intsAttr, type Model, Node, Value } from '../../src/ir';
import { runPass } from '../../src/passes/pass';
import { PRUNE_DEFAULTS, prunePass, type PruneChanges, type PruneOptions } from '../../src/passes/prune';
import { multipleCounts } from '../../src/passes/prune/rounds';
import { floats } from '../helpers/onnx-build';
import { initializer, keptSlices, maxAbs, maxAbsDiff, Net, removedOf, run, zeroSlices } from './net';

const CTX = { toolVersion: 'test' };
const opts = (o: Partial<PruneOptions> = {}): PruneOptions => ({ ...PRUNE_DEFAULTS, sparsity: 0.5, pattern: 'channel', ...o });
const prune = (m: Model, o: Partial<PruneOptions> = {}): PruneChanges => runPass(prunePass(opts(o)), m, CTX).changes;
/** A copy through the ONNX encoder, so the two models share nothing. */
const copy = (m: Model): Model => decodeOnnx(encodeOnnx(m));
const W = (m: Model, name: string) => initializer(m, name).const!;

/** Global average pool → Flatten → Gemm to `classes` outputs: a head whose input channels are prunable. */
function head(n: Net, x: Value, channels: number, classes = 3): void {
  const g = n.op('GlobalAveragePool', [x]);
  const f = n.op('Flatten', [g], [intAttr('axis', 1)]);
  n.output(n.op('Gemm', [f, n.w('head.w', [channels, classes]), n.w('head.b', [classes], 0.1)], [], 'head'));
}

const conv = (n: Net, x: Value, name: string, shape: number[], attrs = [intsAttr('pads', [1, 1, 1, 1])], bias = true): Value =>
  n.op('Conv', bias ? [x, n.w(`${name}.w`, shape), n.w(`${name}.b`, [shape[0]], 0.2)] : [x, n.w(`${name}.w`, shape)], attrs, name);

async function expectEqualOutputs(pruned: Model, reference: Model, shape: number[]): Promise<void> {
  const x = floats(shape.reduce((a, b) => a * b, 1), 3);
  const [a, b] = [await run(pruned, x, shape), await run(reference, x, shape)];
  expect(maxAbs(b)).toBeGreaterThan(1e-2);
  expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
}

describe('residual Add, Max(x, 0.2x) leaky ReLU, Max with a constant, BatchNormalization, ConvTranspose', () => {
  function build(): Model {
    const n = new Net();
    const x = n.input('x', [1, 3, 8, 8]);
    const a0 = conv(n, x, 'A', [8, 3, 3, 3]);
    const a = n.op('Max', [a0, n.op('Mul', [a0, n.f32('slope', [], [0.2])])]);
    const b0 = conv(n, a, 'B', [8, 8, 3, 3]);
    const b = n.op('BatchNormalization', [b0, n.w('bn.s', [8], 0.5, 1), n.w('bn.b', [8], 0.2), n.w('bn.m', [8], 0.1), n.w('bn.v', [8], 0.2, 1)]);
    const r = n.op('Max', [n.op('Add', [a, b]), n.f32('floor', [1, 1, 1, 1], [-0.1])]);
    const c = conv(n, r, 'C', [4, 8, 1, 1], []);
    const t = n.op('ConvTranspose', [c, n.w('T.w', [4, 3, 2, 2]), n.w('T.b', [3], 0.2)], [intsAttr('strides', [2, 2])], 'T');
    head(n, t, 3);
    return n.model;
  }

  test('A and B form one group (summed scores), C and T their own; the head is blocked by the graph output', () => {
    const rep = prune(build());
    expect(rep.groups).toEqual([
      { layers: ['A', 'B'], channels: 8, removed: 4, reasons: [] },
      { layers: ['C'], channels: 4, removed: 2, reasons: [] },
      { layers: ['T'], channels: 3, removed: 2, reasons: [] }, // round(1.5), one kept
      { layers: ['head'], channels: 3, removed: 0, reasons: ["its channels reach graph output 'head_out'"] },
    ]);
    expect(rep.skipped).toEqual([{ layer: 'head', reason: "its channels reach graph output 'head_out'" }]);
  });

  test('removed channels: lowest summed L2 of A\'s and B\'s filters; pruned = original with consumers zeroed', async () => {
    const orig = build();
    const m = copy(orig);
    prune(m);
    const keptA = keptSlices(W(orig, 'A.w'), W(m, 'A.w'));
    // B's BN parameters follow B's filters: the residual sum keeps A's and B's channel c together.
    expect(keptSlices(W(orig, 'bn.s'), W(m, 'bn.s'))).toEqual(keptA);
    expect(keptSlices(W(orig, 'B.b'), W(m, 'B.b'))).toEqual(keptA);
    const norm = (name: string, c: number): number => {
      const t = W(orig, name);
      const per = t.size / t.shape[0];
      return Math.hypot(...t.toFloat32().subarray(c * per, (c + 1) * per));
    };
    const score = [...Array(8).keys()].map((c) => norm('A.w', c) + norm('B.w', c));
    expect(removedOf(keptA, 8)).toEqual([...score.keys()].sort((p, q) => score[p] - score[q] || p - q).slice(0, 4).sort((p, q) => p - q));

    const ref = copy(orig);
    const rA = removedOf(keptA, 8);
    zeroSlices(initializer(ref, 'B.w'), 1, rA);
    zeroSlices(initializer(ref, 'C.w'), 1, rA);
    zeroSlices(initializer(ref, 'T.w'), 0, removedOf(keptSlices(W(orig, 'C.b'), W(m, 'C.b')), 4));
    zeroSlices(initializer(ref, 'head.w'), 0, removedOf(keptSlices(W(orig, 'T.b'), W(m, 'T.b')), 3));
    expect(W(m, 'T.w').shape).toEqual([2, 1, 2, 2]);
    await expectEqualOutputs(m, ref, [1, 3, 8, 8]);
  });
});

describe('Concat on channels (offset map) and Split with constant sizes', () => {
  function build(): Model {
    const n = new Net();
    const x = n.input('x', [1, 3, 8, 8]);
    const a = n.op('Relu', [conv(n, x, 'A', [4, 3, 3, 3])]);
    const b = n.op('Relu', [conv(n, x, 'B', [6, 3, 3, 3])]);
    const cat = n.op('Concat', [a, b], [intAttr('axis', 1)]);
    const [s0, s1] = n.ops('Split', [cat, n.i64('sizes', [5, 5])], 2, [intAttr('axis', 1)]);
    const d = conv(n, s0, 'D', [4, 5, 1, 1], []);
    const e = conv(n, s1, 'E', [4, 5, 1, 1], []);
    head(n, n.op('Add', [d, e]), 4);
    return n.model;
  }

  test('A and B are one group of 10 channels; the split sizes follow; pruned = original with consumers zeroed', async () => {
    const orig = build();
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups!.slice(0, 2)).toEqual([
      { layers: ['A', 'B'], channels: 10, removed: 5, reasons: [] },
      { layers: ['D', 'E'], channels: 4, removed: 2, reasons: [] },
    ]);
    const removedCat = [...removedOf(keptSlices(W(orig, 'A.w'), W(m, 'A.w')), 4), ...removedOf(keptSlices(W(orig, 'B.w'), W(m, 'B.w')), 6).map((c) => c + 4)];
    expect(removedCat).toHaveLength(5);
    const first = removedCat.filter((c) => c < 5);
    const second = removedCat.filter((c) => c >= 5).map((c) => c - 5);
    expect(Array.from(initializer(m, 'sizes').const!.typed() as BigInt64Array, Number)).toEqual([5 - first.length, 5 - second.length]);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'D.w'), 1, first);
    zeroSlices(initializer(ref, 'E.w'), 1, second);
    const keptDE = keptSlices(W(orig, 'D.b'), W(m, 'D.b'));
    expect(keptSlices(W(orig, 'E.b'), W(m, 'E.b'))).toEqual(keptDE);
    zeroSlices(initializer(ref, 'head.w'), 0, removedOf(keptDE, 4));
    await expectEqualOutputs(m, ref, [1, 3, 8, 8]);
  });
});

describe('depthwise Conv (input and output coupled), hard-swish, squeeze-and-excitation Mul', () => {
  function build(mult: number): Model {
    const n = new Net();
    const x = n.input('x', [1, 3, 8, 8]);
    const p = n.op('Relu', [n.op('BatchNormalization', [conv(n, x, 'P', [8, 3, 3, 3], undefined, false), n.w('bn.s', [8], 0.5, 1), n.w('bn.b', [8], 0.2), n.w('bn.m', [8], 0.1), n.w('bn.v', [8], 0.2, 1)])]);
    const C = 8 * mult;
    const d = n.op('Clip', [conv(n, p, 'DW', [C, 1, 3, 3], [intsAttr('pads', [1, 1, 1, 1]), intAttr('group', 8)]), n.f32('lo', [], [0]), n.f32('hi', [], [6])]);
    const hs = n.op('Mul', [d, n.op('HardSigmoid', [d])]);
    const s = n.op('HardSigmoid', [conv(n, n.op('Relu', [conv(n, n.op('GlobalAveragePool', [hs]), 'SR', [4, C, 1, 1], [])]), 'SE', [C, 4, 1, 1], [])]);
    head(n, conv(n, n.op('Mul', [hs, s]), 'O', [6, C, 1, 1], []), 6);
    return n.model;
  }

  test('P, DW and SE are one group; SR and O their own; pruned = original with consumers zeroed', async () => {
    const orig = build(1);
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups!.slice(0, 3)).toEqual([
      { layers: ['P', 'DW', 'SE'], channels: 8, removed: 4, reasons: [] },
      { layers: ['SR'], channels: 4, removed: 2, reasons: [] },
      { layers: ['O'], channels: 6, removed: 3, reasons: [] },
    ]);
    const rP = removedOf(keptSlices(W(orig, 'bn.s'), W(m, 'bn.s')), 8);
    expect(removedOf(keptSlices(W(orig, 'DW.w'), W(m, 'DW.w')), 8)).toEqual(rP);
    expect(removedOf(keptSlices(W(orig, 'SE.b'), W(m, 'SE.b')), 8)).toEqual(rP);
    expect(W(m, 'DW.w').shape).toEqual([4, 1, 3, 3]);
    expect(m.graph.nodes.find((x) => x.name === 'DW')!.attrInt('group')).toBe(4);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'SR.w'), 1, rP);
    zeroSlices(initializer(ref, 'O.w'), 1, rP);
    zeroSlices(initializer(ref, 'SE.w'), 1, removedOf(keptSlices(W(orig, 'SR.b'), W(m, 'SR.b')), 4));
    zeroSlices(initializer(ref, 'head.w'), 0, removedOf(keptSlices(W(orig, 'O.b'), W(m, 'O.b')), 6));
    await expectEqualOutputs(m, ref, [1, 3, 8, 8]);
  });

  test('depthwise multiplier 2: output channels 2c, 2c+1 go with input channel c', async () => {
    const n = new Net();
    const x = n.input('x', [1, 3, 8, 8]);
    const p = n.op('Relu', [conv(n, x, 'P', [4, 3, 3, 3])]);
    const d = n.op('Relu', [conv(n, p, 'DW', [8, 1, 3, 3], [intsAttr('pads', [1, 1, 1, 1]), intAttr('group', 4)])]);
    head(n, conv(n, d, 'O', [5, 8, 1, 1], []), 5);
    const orig = n.model;
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups![0]).toEqual({ layers: ['P', 'DW'], channels: 4, removed: 2, reasons: [] });
    const rP = removedOf(keptSlices(W(orig, 'P.w'), W(m, 'P.w')), 4);
    expect(removedOf(keptSlices(W(orig, 'DW.b'), W(m, 'DW.b')), 8)).toEqual(rP.flatMap((c) => [2 * c, 2 * c + 1]));
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'O.w'), 1, rP, 2);
    zeroSlices(initializer(ref, 'head.w'), 0, removedOf(keptSlices(W(orig, 'O.b'), W(m, 'O.b')), 5));
    await expectEqualOutputs(m, ref, [1, 3, 8, 8]);
  });
});

describe('NHWC between Transposes (tf2onnx), per-channel Mul/Add on the last axis, Reshape into Gemm', () => {
  function build(explicitK: boolean): Model {
    const n = new Net();
    const x = n.input('x', [1, 8, 8, 3]);
    const nchw = (v: Value): Value => n.op('Transpose', [v], [intsAttr('perm', [0, 3, 1, 2])]);
    const nhwc = (v: Value): Value => n.op('Transpose', [v], [intsAttr('perm', [0, 2, 3, 1])]);
    const c1 = nhwc(conv(n, nchw(x), 'C1', [8, 3, 3, 3]));
    const m = n.op('Add', [n.op('Mul', [c1, n.w('scale', [8], 0.5, 1)]), n.w('shift', [8], 0.3)]);
    const l = n.op('Max', [m, n.op('Mul', [m, n.f32('slope', [], [0.2])])]);
    const c2 = nhwc(conv(n, nchw(l), 'C2', [6, 8, 3, 3]));
    // Keras Flatten on NHWC: channel c of pixel p is column p*6 + c.
    const f = n.op('Reshape', [c2, n.i64('shape', explicitK ? [-1, 384] : [0, -1])]);
    n.output(n.op('Gemm', [f, n.w('G.w', [384, 5], 0.1), n.w('G.b', [5], 0.1)], [], 'G'));
    return n.model;
  }

  test.each([true, false])('explicit K %p: groups C1 (with its per-channel constants) and C2; pruned = original with consumers zeroed', async (explicitK) => {
    const orig = build(explicitK);
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups!.slice(0, 2)).toEqual([
      { layers: ['C1'], channels: 8, removed: 4, reasons: [] },
      { layers: ['C2'], channels: 6, removed: 3, reasons: [] },
    ]);
    const r1 = removedOf(keptSlices(W(orig, 'C1.b'), W(m, 'C1.b')), 8);
    expect(removedOf(keptSlices(W(orig, 'scale'), W(m, 'scale')), 8)).toEqual(r1);
    const r2 = removedOf(keptSlices(W(orig, 'C2.b'), W(m, 'C2.b')), 6);
    expect(W(m, 'G.w').shape).toEqual([64 * 3, 5]);
    expect(Array.from(initializer(m, 'shape').const!.typed() as BigInt64Array, Number)).toEqual(explicitK ? [-1, 192] : [0, -1]);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'C2.w'), 1, r1);
    const rows = [...Array(64).keys()].flatMap((p) => r2.map((c) => p * 6 + c));
    zeroSlices(initializer(ref, 'G.w'), 0, rows);
    await expectEqualOutputs(m, ref, [1, 8, 8, 3]);
  });
});

describe('NCHW Flatten and Reshape into Gemm: each channel owns a block of H*W rows', () => {
  test.each(['Flatten', 'Reshape'])('%s', async (how) => {
    const n = new Net();
    const x = n.input('x', [1, 3, 4, 4]);
    const h = n.op('Relu', [conv(n, x, 'C', [16, 3, 3, 3])]);
    const f = how === 'Flatten' ? n.op('Flatten', [h], [intAttr('axis', 1)]) : n.op('Reshape', [h, n.i64('shape', [0, 256])]);
    n.output(n.op('Gemm', [n.op('Relu', [f]), n.w('G.w', [10, 256], 0.1), n.w('G.b', [10], 0.1)], [intAttr('transB', 1)], 'G'));
    const orig = n.model;
    const m = copy(orig);
    prune(m);
    const r = removedOf(keptSlices(W(orig, 'C.b'), W(m, 'C.b')), 16);
    expect(W(m, 'G.w').shape).toEqual([10, 128]);
    if (how === 'Reshape') expect(Array.from(initializer(m, 'shape').const!.typed() as BigInt64Array, Number)).toEqual([0, 128]);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'G.w'), 1, r, 16);
    await expectEqualOutputs(m, ref, [1, 3, 4, 4]);
  });
});

describe('what cannot be traced is reported per group, with the reason', () => {
  const reasonsOf = (m: Model): Record<string, string> => Object.fromEntries(prune(m).skipped.map((s) => [s.layer, s.reason]));

  test('a channel-mixing op, a residual with the graph input, a grouped Conv after it, a graph output', () => {
    const n = new Net();
    const x = n.input('x', [1, 4, 6, 6]);
    const a = conv(n, x, 'A', [4, 4, 3, 3]);
    const r = n.op('Add', [a, x]); // residual on the input: its channels cannot go
    const g = conv(n, r, 'G', [8, 2, 3, 3], [intsAttr('pads', [1, 1, 1, 1]), intAttr('group', 2)]);
    const s = n.op('Softmax', [conv(n, n.op('Relu', [g]), 'S', [6, 8, 1, 1], [])], [intAttr('axis', 1)]);
    const o = conv(n, s, 'O', [5, 6, 1, 1], []);
    n.output(o);
    const why = reasonsOf(n.model);
    expect(why.A).toBe("operand 'x' of Add node 'add0' carries channels that are not traced");
    expect(why.G).toBe("grouped Conv node 'G' (group 2) reads channels that are not traced"); // the blocked Add's output
    expect(why.S).toBe("Softmax node 'softmax2' normalises over the channel axis");
    expect(why.O).toBe("its channels reach graph output 'O_out'");
  });

  test('layers coupled with an excluded layer are named, and the group is kept whole', () => {
    const n = new Net();
    const x = n.input('x', [1, 3, 6, 6]);
    const a = conv(n, x, 'A', [4, 3, 3, 3]);
    const b = conv(n, x, 'B', [4, 3, 3, 3]);
    head(n, n.op('Add', [a, b]), 4);
    const rep = prune(n.model, { exclude: ['B'] });
    expect(rep.skipped).toEqual([
      { layer: 'B', reason: 'excluded' },
      { layer: 'A', reason: "coupled with weight 'B.w', which is not pruned (excluded, or not float32)" },
      { layer: 'head', reason: "its channels reach graph output 'head_out'" },
    ]);
    expect(rep.groups!.find((g) => g.layers.includes('A'))).toEqual({ layers: ['A'], channels: 4, removed: 0, reasons: ["coupled with weight 'B.w', which is not pruned (excluded, or not float32)"] });
    // A's 4 channels count as kept; the head's 3 are the graph output, never candidates.
    expect(rep.channelFraction).toEqual({ requested: 0.5, achieved: 0, removed: 0, channels: 4 });
  });

  test('a per-channel constant also read by an untraced op keeps its group whole', () => {
    const n = new Net();
    const x = n.input('x', [1, 3, 6, 6]);
    const k = n.w('k', [1, 4, 1, 1]);
    const a = n.op('Mul', [conv(n, x, 'A', [4, 3, 3, 3]), k]);
    const other = n.op('Softmax', [k]);
    head(n, n.op('Add', [conv(n, a, 'B', [4, 4, 1, 1], []), other]), 4);
    const why = reasonsOf(n.model);
    expect(why.A).toBe("constant 'k' is also read by Softmax node 'softmax1'");
  });
});

describe('the dependency graph itself', () => {
  test('classes: a Split then Add of the halves couples channel c with channel c + C/2 of the producer', () => {
    const n = new Net();
    const x = n.input('x', [1, 3, 6, 6]);
    const [p, q] = n.ops('Split', [conv(n, x, 'A', [8, 3, 3, 3]), n.i64('sizes', [4, 4])], 2, [intAttr('axis', 1)]);
    head(n, n.op('Add', [p, q]), 4);
    const graph = buildChannelGraph(n.model);
    const at = graph.find(initializer(n.model, 'A.w'), 0)!;
    expect(at.group.reasons).toEqual([]);
    expect(at.group.classes).toBe(4);
    expect(Array.from(at.group.classOf[at.port])).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
  });

  test('global scope: groups compete by summed score, each keeps at least one channel', () => {
    const n = new Net();
    const x = n.input('x', [1, 3, 6, 6]);
    const a = conv(n, x, 'A', [4, 3, 3, 3]);
    const b = conv(n, x, 'B', [4, 3, 3, 3]);
    const c = conv(n, n.op('Relu', [n.op('Add', [a, b])]), 'C', [6, 4, 1, 1], []);
    head(n, n.op('Relu', [c]), 6);
    const rep = prune(n.model, { scope: 'global', sparsity: 0.7, minDensity: 0 });
    // 4 + 6 = 10 group channels, round(7) wanted, each group keeps one: 3 + 5 = 8 allowed.
    expect(rep.groups!.slice(0, 2).reduce((s, g) => s + g.removed, 0)).toBe(7);
    for (const g of rep.groups!.slice(0, 2)) expect(g.removed).toBeLessThan(g.channels);
    expect(rep.channelFraction!.removed).toBe(2 * rep.groups![0].removed + rep.groups![1].removed);
  });
});



describe('--channel-multiple: each group keeps a multiple of n channels', () => {
  test.each([
    // classes, wanted removals, multiple → removals (kept counts are multiples; running total tracks the wanted one)
    [[24], [6], 8, [8]], [[24, 24], [6, 6], 8, [8, 8]], [[16, 16, 16, 16], [4, 4, 4, 4], 8, [8, 0, 8, 0]],
    [[96, 6, 40], [24, 2, 10], 16, [32, 2, 8]], [[40, 30], [10, 7], 1, [10, 7]], [[16], [15], 8, [8]],
  ])('classes %j wanting %j, multiple %p → %j', (classes, wanted, multiple, expected) => {
    const got = multipleCounts(classes, wanted, multiple);
    expect(got).toEqual(expected);
    got.forEach((n, i) => { if (classes[i] >= multiple) expect((classes[i] - n) % multiple).toBe(0); });
  });

  test.each(['layer', 'global'] as const)('%s scope: kept counts are multiples of 8; the model runs', async (scope) => {
    const n = new Net();
    const x = n.input('x', [1, 3, 6, 6]);
    const a = n.op('Relu', [conv(n, x, 'A', [24, 3, 3, 3])]);
    const b = n.op('Relu', [conv(n, a, 'B', [40, 24, 1, 1], [])]);
    head(n, b, 40);
    const m = copy(n.model);
    const rep = prune(m, { sparsity: 0.25, channelMultiple: 8, scope, minDensity: 0 });
    for (const g of rep.groups!.filter((gr) => !gr.reasons.length)) expect((g.channels - g.removed) % 8).toBe(0);
    expect(rep.groups!.slice(0, 2).map((g) => g.channels - g.removed)).toEqual(scope === 'layer' ? [16, 32] : [expect.any(Number), expect.any(Number)]);
    expect(maxAbs(await run(m, floats(108, 3), [1, 3, 6, 6]))).toBeGreaterThan(0);
  });

  test('is refused for other patterns and for non-whole numbers', () => {
    expect(() => prune(copy(new Net().model), { pattern: 'unstructured', channelMultiple: 8 })).toThrow(/--channel-multiple is for --pattern channel/);
    expect(() => prune(copy(new Net().model), { channelMultiple: 2.5 })).toThrow(/whole number/);
  });
});

describe('constants held by Constant nodes (shape, axis and scalar constants stay nodes after lifting)', () => {
  /** Replaces initializer `name` by a Constant node writing the same tensor. */
  function toConstantNode(m: Model, name: string): void {
    const v = initializer(m, name);
    const t = v.const!;
    m.graph.removeInitializer(v);
    const out = new Value(name);
    m.graph.addNode(new Node({ opType: 'Constant', name: `${name}_node`, outputs: [out], attributes: [{ name: 'value', type: 'tensor', value: t }] }), m.graph.nodes[0]);
    v.replaceAllUsesWith(out);
  }

  test('a per-channel Mul constant, a Reshape shape and Split sizes as Constant nodes are rewritten', async () => {
    const n = new Net();
    const x = n.input('x', [1, 3, 4, 4]);
    const h = n.op('Mul', [conv(n, x, 'C', [8, 3, 3, 3]), n.w('k', [1, 8, 1, 1], 0.5, 1)]);
    const [p, q] = n.ops('Split', [h, n.i64('sizes', [4, 4])], 2, [intAttr('axis', 1)]);
    const s = n.op('Add', [n.op('Relu', [p]), q]);
    const f = n.op('Reshape', [s, n.i64('shape', [0, 64])]);
    n.output(n.op('Gemm', [f, n.w('G.w', [64, 5], 0.1)], [], 'G'));
    const orig = n.model;
    for (const c of ['k', 'sizes', 'shape']) toConstantNode(orig, c);
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups![0]).toEqual({ layers: ['C'], channels: 4, removed: 2, reasons: [] });
    const constant = (mm: Model, name: string) => constantNodeTensor(mm.graph.nodes.find((nd) => nd.name === `${name}_node`)!)!;
    expect(constant(m, 'k').shape).toEqual([1, 4, 1, 1]);
    expect(Array.from(constant(m, 'sizes').typed() as BigInt64Array, Number)).toEqual([2, 2]);
    expect(Array.from(constant(m, 'shape').typed() as BigInt64Array, Number)).toEqual([0, 32]);
    // Channels c and c+4 are one class (the Add of the halves); the Gemm reads the 4 classes x 16 pixels.
    const r = removedOf(keptSlices(W(orig, 'C.b'), W(m, 'C.b')), 8).filter((c) => c < 4);
    expect(removedOf(keptSlices(W(orig, 'C.b'), W(m, 'C.b')), 8)).toEqual([...r, ...r.map((c) => c + 4)]);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'G.w'), 0, r, 16);
    await expectEqualOutputs(m, ref, [1, 3, 4, 4]);
  });
});

describe('ranks through dynamic shapes', () => {
  test('a MatMul after Reshape(x, Concat(Slice(Shape(x)), [8])) writes prunable channels; the next MatMul reads them', async () => {
    const n = new Net(11);
    const x = n.input('x', [2, 3, 8]);
    const dims = n.op('Slice', [n.op('Shape', [x]), n.i64('s0', [0]), n.i64('s1', [2])]);
    const h = n.op('Reshape', [x, n.op('Concat', [dims, n.i64('tail', [8])], [intAttr('axis', 0)])]);
    const a = n.op('Relu', [n.op('MatMul', [h, n.w('W1', [8, 16])], [], 'fc1')]);
    n.output(n.op('MatMul', [a, n.w('W2', [16, 6])], [], 'fc2'));
    const orig = n.model;
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups!.map((g) => [g.layers, g.removed, g.reasons])).toEqual([[['fc1'], 8, []], [['fc2'], 0, ["its channels reach graph output 'fc2_out'"]]]);
    const r = removedOf(keptSlices(W(orig, 'W1'), W(m, 'W1'), 1), 16);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'W2'), 0, r);
    await expectEqualOutputs(m, ref, [2, 3, 8]);
  });
});

describe('dynamic Reshape shapes built from Shape and constants (paddle2onnx)', () => {
  test('GlobalAveragePool → Reshape(x, Concat(Slice(Shape(y), 0, 1), Cast([C]))) → MatMul: the constant C is rewritten', async () => {
    const n = new Net(11);
    const x = n.input('x', [2, 3, 6, 6]);
    const c = n.op('Relu', [conv(n, x, 'C', [12, 3, 3, 3])]);
    const g = n.op('GlobalAveragePool', [c]);
    const batch = n.op('Slice', [n.op('Shape', [n.op('GlobalAveragePool', [x])]), n.i64('b0', [0]), n.i64('b1', [1])]);
    const shape = n.op('Concat', [batch, n.op('Cast', [n.i64('width', [12])], [intAttr('to', 7)])], [intAttr('axis', 0)]);
    const f = n.op('Reshape', [g, shape]);
    n.output(n.op('MatMul', [f, n.w('M', [12, 4])], [], 'fc'));
    const orig = n.model;
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups![0]).toEqual({ layers: ['C'], channels: 12, removed: 6, reasons: [] });
    expect(Array.from(initializer(m, 'width').const!.typed() as BigInt64Array, Number)).toEqual([6]);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'M'), 0, removedOf(keptSlices(W(orig, 'C.b'), W(m, 'C.b')), 12));
    await expectEqualOutputs(m, ref, [2, 3, 6, 6]);
  });

  test('a shape constant that also feeds another node keeps the group whole', () => {
    const n = new Net(11);
    const x = n.input('x', [2, 3, 6, 6]);
    const g = n.op('GlobalAveragePool', [n.op('Relu', [conv(n, x, 'C', [12, 3, 3, 3])])]);
    const width = n.op('Cast', [n.i64('width', [12])], [intAttr('to', 7)]);
    const f = n.op('Reshape', [g, n.op('Concat', [n.i64('lead', [-1]), width], [intAttr('axis', 0)])]);
    const y = n.op('MatMul', [f, n.w('M', [12, 4])], [], 'fc');
    n.output(n.op('Add', [y, n.op('Cast', [n.op('ReduceSum', [width], [intAttr('keepdims', 1)])], [intAttr('to', 1)])]));
    expect(prune(n.model).skipped.find((s) => s.layer === 'C')!.reason).toMatch(/^shape constant 'width' feeds more than Reshape node 'reshape4'/);
  });
});

describe('Slice of channels and grouped Conv', () => {
  test('Slice [2, 7) of the channels: its starts/ends are rewritten; pruned = original with consumers zeroed', async () => {
    const n = new Net(13);
    const x = n.input('x', [1, 3, 6, 6]);
    const a = n.op('Relu', [conv(n, x, 'A', [10, 3, 3, 3])]);
    const s = n.op('Slice', [a, n.i64('starts', [2]), n.i64('ends', [7]), n.i64('axes', [1])]);
    const b = conv(n, s, 'B', [4, 5, 1, 1], []);
    const c = conv(n, a, 'C', [4, 10, 1, 1], []);
    head(n, n.op('Add', [b, c]), 4);
    const orig = n.model;
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups![0]).toEqual({ layers: ['A'], channels: 10, removed: 5, reasons: [] });
    const rA = removedOf(keptSlices(W(orig, 'A.b'), W(m, 'A.b')), 10);
    const int = (name: string) => Number((initializer(m, name).const!.typed() as BigInt64Array)[0]);
    expect([int('starts'), int('ends')]).toEqual([2 - rA.filter((c) => c < 2).length, 7 - rA.filter((c) => c < 7).length]);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'B.w'), 1, rA.filter((c) => c >= 2 && c < 7).map((c) => c - 2));
    zeroSlices(initializer(ref, 'C.w'), 1, rA);
    zeroSlices(initializer(ref, 'head.w'), 0, removedOf(keptSlices(W(orig, 'B.b'), W(m, 'B.b')), 4));
    await expectEqualOutputs(m, ref, [1, 3, 6, 6]);
  });

  test('grouped Conv (group 2): channel j of every group goes together, in and out; the group count stays', async () => {
    const n = new Net(13);
    const x = n.input('x', [1, 3, 6, 6]);
    const a = n.op('Relu', [conv(n, x, 'A', [8, 3, 3, 3])]);
    const g = n.op('Relu', [conv(n, a, 'G', [6, 4, 3, 3], [intsAttr('pads', [1, 1, 1, 1]), intAttr('group', 2)])]);
    head(n, conv(n, g, 'O', [5, 6, 1, 1], []), 5);
    const orig = n.model;
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups!.slice(0, 2)).toEqual([
      { layers: ['A'], channels: 4, removed: 2, reasons: [] },
      { layers: ['G'], channels: 3, removed: 2, reasons: [] },
    ]);
    const rA = removedOf(keptSlices(W(orig, 'A.b'), W(m, 'A.b')), 8);
    expect(rA.filter((c) => c >= 4)).toEqual(rA.filter((c) => c < 4).map((c) => c + 4));
    const rG = removedOf(keptSlices(W(orig, 'G.b'), W(m, 'G.b')), 6);
    expect(rG.filter((c) => c >= 3)).toEqual(rG.filter((c) => c < 3).map((c) => c + 3));
    expect(W(m, 'G.w').shape).toEqual([2, 2, 3, 3]);
    expect(m.graph.nodes.find((nd) => nd.name === 'G')!.attrInt('group')).toBe(2);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'G.w'), 1, rA.filter((c) => c < 4));
    zeroSlices(initializer(ref, 'O.w'), 1, rG);
    zeroSlices(initializer(ref, 'head.w'), 0, removedOf(keptSlices(W(orig, 'O.b'), W(m, 'O.b')), 5));
    await expectEqualOutputs(m, ref, [1, 3, 6, 6]);
  });
});

describe('spatial ops and InstanceNormalization pass channels (their per-channel parameters sliced)', () => {
  test('Pad, InstanceNormalization, Resize, AveragePool, PRelu: pruned = original with consumers zeroed', async () => {
    const n = new Net(13);
    const x = n.input('x', [1, 3, 6, 6]);
    const a = conv(n, x, 'A', [8, 3, 3, 3]);
    const p = n.op('Pad', [a, n.i64('pads', [0, 0, 1, 1, 0, 0, 1, 1]), n.f32('pv', [], [0.5])]);
    const i = n.op('InstanceNormalization', [p, n.w('in.s', [8], 0.5, 1), n.w('in.b', [8], 0.2)]);
    const r = n.op('Resize', [i, null, n.f32('scales', [4], [1, 1, 2, 2])]);
    const q = n.op('PRelu', [n.op('AveragePool', [r], [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])]), n.w('slope', [8, 1, 1], 0.2, 0.3)]);
    head(n, conv(n, q, 'B', [5, 8, 3, 3], []), 5);
    const orig = n.model;
    const m = copy(orig);
    const rep = prune(m);
    expect(rep.groups!.slice(0, 2)).toEqual([
      { layers: ['A'], channels: 8, removed: 4, reasons: [] },
      { layers: ['B'], channels: 5, removed: 3, reasons: [] },
    ]);
    const rA = removedOf(keptSlices(W(orig, 'A.b'), W(m, 'A.b')), 8);
    expect(removedOf(keptSlices(W(orig, 'in.s'), W(m, 'in.s')), 8)).toEqual(rA);
    expect(W(m, 'slope').shape).toEqual([4, 1, 1]);
    const ref = copy(orig);
    zeroSlices(initializer(ref, 'B.w'), 1, rA);
    zeroSlices(initializer(ref, 'head.w'), 0, removedOf(keptSlices(W(orig, 'B.b'), W(m, 'B.b')), 5));
    await expectEqualOutputs(m, ref, [1, 3, 6, 6]);
  });
});

test('a Reshape mc cannot follow straight into a graph output: both reasons, and the layer is not counted in the achieved fraction', () => {
  const n = new Net();
  const x = n.input('x', [1, 3, 4, 4]);
  const a = n.op('Relu', [conv(n, x, 'A', [8, 3, 3, 3])]);
  const b = conv(n, a, 'B', [6, 8, 4, 4], [], true); // [1, 6, 1, 1]
  n.output(n.op('Reshape', [b, n.i64('shape', [-1, 1, 1, 6])]));
  const rep = prune(n.model);
  expect(rep.skipped).toEqual([{ layer: 'B', reason: "cannot map channels through Reshape node 'reshape1' (shape [-1,1,1,6]); its channels reach graph output 'reshape1_out'" }]);
  expect(rep.channelFraction).toEqual({ requested: 0.5, achieved: 0.5, removed: 4, channels: 8 });
});
