import { InputError } from '../../src/errors';
import {
  dequantizeWeight, intRange, packNibbles, quantizeTfjsAffine, quantizeWeight, roundHalfEven, toMatMulNBits, WeightLayout,
} from '../../src/passes/quantize';
import { randomFloats } from './helpers';

/**
 * Reference quantizer written independently of src: explicit multi-indices,
 * groups keyed by strings, numpy-style rint (ties to even) via a tie check.
 */
function rint(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function refQuantize(w: Float32Array, shape: number[], layout: WeightLayout, bits: 8 | 4, symmetric: boolean) {
  const qmax = symmetric ? (bits === 8 ? 127 : 7) : bits === 8 ? 255 : 15;
  const qmin = symmetric ? -qmax : 0;
  const keyOf = (i: number): string => {
    const idx: number[] = [];
    let r = i;
    for (let a = shape.length - 1; a >= 0; a--) { idx.unshift(r % shape[a]); r = Math.floor(r / shape[a]); }
    if (layout.granularity === 'tensor') return '';
    if (layout.granularity === 'channel') return String(idx[layout.axis]);
    idx[layout.axis] = Math.floor(idx[layout.axis] / layout.blockSize);
    return idx.join(',');
  };
  const groups = new Map<string, number[]>();
  for (let i = 0; i < w.length; i++) {
    const k = keyOf(i);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(w[i]);
  }
  const params = new Map<string, { s: number; z: number }>();
  for (const [k, vals] of groups) {
    const lo = Math.min(0, ...vals);
    const hi = Math.max(0, ...vals);
    if (symmetric) {
      const m = Math.max(-lo, hi);
      params.set(k, { s: m === 0 ? 1 : Math.fround(m / qmax), z: 0 });
    } else {
      const s = hi === lo ? 1 : Math.fround((hi - lo) / (qmax - qmin));
      params.set(k, { s, z: Math.min(qmax, Math.max(qmin, rint(qmin - lo / s))) });
    }
  }
  const q = new Array<number>(w.length);
  for (let i = 0; i < w.length; i++) {
    const { s, z } = params.get(keyOf(i))!;
    q[i] = Math.min(qmax, Math.max(qmin, rint(Math.fround(w[i] / s)) + z));
  }
  return { q, params, keyOf };
}

describe('roundHalfEven', () => {
  test.each([[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, 0], [-1.5, -2], [-2.5, -2], [-3.5, -4], [2.4999, 2], [2.5001, 3], [-7.2, -7], [126.5, 126], [127.5, 128]])(
    'round(%p) = %p', (x, want) => {
      expect(roundHalfEven(x) + 0).toBe(want);
      expect(rint(x) + 0).toBe(want);
    });
});

describe('quantizeWeight matches the reference quantizer', () => {
  const shape = [6, 40, 3];
  const w = randomFloats(6 * 40 * 3, 11, 0.7);
  // Plant exact ties: with max|w| = 1.27 per tensor the int8 scale is 0.01, and 0.025/0.01 = 2.5.
  const layouts: WeightLayout[] = [
    { granularity: 'tensor' },
    { granularity: 'channel', axis: 0 },
    { granularity: 'channel', axis: 2 },
    { granularity: 'block', axis: 1, blockSize: 16 },
    { granularity: 'block', axis: 0, blockSize: 4 },
  ];
  for (const layout of layouts) {
    for (const [bits, sym] of [[8, true], [8, false], [4, true], [4, false]] as const) {
      test(`${JSON.stringify(layout)} int${bits} ${sym ? 'symmetric' : 'asymmetric'}`, () => {
        const qw = quantizeWeight(w, shape, layout, intRange(bits, sym), 'w');
        const ref = refQuantize(w, shape, layout, bits, sym);
        expect(Array.from(qw.values)).toEqual(ref.q);
        const deq = dequantizeWeight(qw, shape);
        let signal = 0;
        let noise = 0;
        for (let i = 0; i < w.length; i++) {
          const { s, z } = ref.params.get(ref.keyOf(i))!;
          const want = Math.fround((ref.q[i] - z) * s);
          if (deq[i] !== want) throw new Error(`element ${i}: ${deq[i]} vs ${want}`);
          signal += w[i] ** 2;
          noise += (w[i] - want) ** 2;
        }
        expect(qw.sqnrDb).toBeCloseTo(10 * Math.log10(signal / noise), 9);
        // Rough SQNR floor of uniform noise on this data: ~6 dB per bit minus the range factor.
        expect(qw.sqnrDb).toBeGreaterThan(bits === 8 ? 35 : 12);
      });
    }
  }

  test('ties round to even (per-tensor int8, scale exactly representable)', () => {
    const v = new Float32Array([1.27, 0.025, 0.035, -0.025, -0.035, 0.045]);
    const qw = quantizeWeight(v, [6], { granularity: 'tensor' }, intRange(8, true), 't');
    const s = qw.scales[0];
    const ratios = Array.from(v, (x) => Math.fround(x / s));
    const expected = ratios.map(rint);
    expect(Array.from(qw.values)).toEqual(expected);
    // At least one element really is a tie in float32, so the test exercises the rule.
    expect(ratios.some((r) => Math.abs(r - Math.trunc(r)) === 0.5)).toBe(true);
  });
});

describe('degenerate and bad weights', () => {
  test('all-zero tensor: scale 1, exact', () => {
    const qw = quantizeWeight(new Float32Array(64), [8, 8], { granularity: 'channel', axis: 0 }, intRange(8, true), 'z');
    expect(Array.from(qw.scales)).toEqual(new Array(8).fill(1));
    expect(qw.values.every((x) => x === 0)).toBe(true);
    expect(qw.sqnrDb).toBe(Infinity);
  });
  test('constant tensor, asymmetric: finite scale, the constant decodes within one step', () => {
    const w = new Float32Array(32).fill(0.3);
    for (const bits of [8, 4] as const) {
      const qw = quantizeWeight(w, [32], { granularity: 'tensor' }, intRange(bits, false), 'c');
      expect(Number.isFinite(qw.scales[0]) && qw.scales[0] > 0).toBe(true);
      const d = dequantizeWeight(qw, [32]);
      expect(Math.abs(d[0] - 0.3)).toBeLessThanOrEqual(qw.scales[0] / 2 + 1e-7);
    }
  });
  test('subnormal-range tensor keeps a normal float32 scale', () => {
    const qw = quantizeWeight(new Float32Array([1e-42, -1e-42, 0, 0]), [4], { granularity: 'tensor' }, intRange(4, true), 'tiny');
    expect(qw.scales[0]).toBeGreaterThanOrEqual(1.1754943508222875e-38);
    expect(Number.isFinite(qw.scales[0])).toBe(true);
  });
  test.each([NaN, Infinity, -Infinity])('%p in a weight is an InputError naming the tensor', (bad) => {
    const w = new Float32Array([0.1, 0.2, bad, 0.4]);
    expect(() => quantizeWeight(w, [4], { granularity: 'tensor' }, intRange(8, true), 'layer3.weight')).toThrow(InputError);
    expect(() => quantizeWeight(w, [4], { granularity: 'tensor' }, intRange(8, true), 'layer3.weight')).toThrow(/layer3\.weight/);
    expect(() => quantizeTfjsAffine(w, 255, 'dense/kernel')).toThrow(/dense\/kernel/);
  });
});

describe('int4 packing', () => {
  test('two per byte, low nibble first (ONNX INT4)', () => {
    expect(Array.from(packNibbles(new Int8Array([1, -1, 7, -8, 3])))).toEqual([0xf1, 0x87, 0x03]);
    expect(Array.from(packNibbles(new Uint8Array([15, 0, 9, 6])))).toEqual([0x0f, 0x69]);
  });

  test.each([[0, true], [1, true], [0, false], [1, false]] as const)('MatMulNBits layout, K axis %p, symmetric %p', (kAxis, sym) => {
    const k = 40; // not a multiple of the block: the last block is padded
    const n = 3;
    const shape = kAxis === 0 ? [k, n] : [n, k];
    const w = randomFloats(k * n, 21);
    const qw = quantizeWeight(w, shape, { granularity: 'block', axis: kAxis, blockSize: 16 }, intRange(4, sym), 'w');
    const p = toMatMulNBits(qw, shape, kAxis);
    const nb = 3;
    expect(p.b.length).toBe(n * nb * 8);
    for (let col = 0; col < n; col++) {
      for (let kk = 0; kk < nb * 16; kk++) {
        const blk = Math.floor(kk / 16);
        const byte = p.b[(col * nb + blk) * 8 + ((kk % 16) >> 1)];
        const u = kk % 2 ? byte >> 4 : byte & 15;
        const zp = sym ? 8 : (p.zeroPoints![col * 2 + (blk >> 1)] >> ((blk & 1) * 4)) & 15;
        if (kk >= k) { expect(u).toBe(zp); continue; }
        const src = kAxis === 0 ? kk * n + col : col * k + kk;
        const si = kAxis === 0 ? blk * n + col : col * nb + blk;
        expect(p.scales[col * nb + blk]).toBe(qw.scales[si]);
        expect(u - zp).toBe(qw.values[src] - qw.zeroPoints[si]);
      }
    }
  });
});

describe('tfjs affine (tensorflowjs/quantization.py)', () => {
  /** quantize_weights + _get_affine_quantization_range, transcribed. */
  function refTfjs(w: Float32Array, qmax: number) {
    let lo = Infinity; let hi = -Infinity;
    for (const v of w) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (lo === hi) return { q: new Array(w.length).fill(0), min: lo, scale: 1 };
    const scale = (hi - lo) / qmax;
    let nmin = lo; let nmax = hi;
    if (lo <= 0 && 0 <= hi) {
      const zp = rint((0 - lo) / scale);
      nmin = -zp * scale;
      nmax = qmax * scale + nmin;
    }
    return { q: Array.from(w, (v) => rint((Math.min(nmax, Math.max(nmin, v)) - nmin) / scale)), min: nmin, scale };
  }
  test.each([15, 255, 65535] as const)('qmax %p: same q, min, scale; zero decodes exactly', (qmax) => {
    const w = randomFloats(500, 5, 0.4);
    w[7] = 0;
    const r = quantizeTfjsAffine(w, qmax, 'w');
    const ref = refTfjs(w, qmax);
    expect(r.min).toBe(ref.min);
    expect(r.scale).toBe(ref.scale);
    const q = qmax === 65535 ? new Uint16Array(r.stored.buffer) : r.stored;
    expect(Array.from(q)).toEqual(ref.q);
    expect(Math.fround(q[7] * r.scale + r.min)).toBe(0);
  });
  test('all-positive tensor is not nudged; constant tensor decodes exactly', () => {
    const w = new Float32Array([0.5, 0.75, 1]);
    const r = quantizeTfjsAffine(w, 255, 'p');
    expect(r.min).toBe(0.5);
    const c = quantizeTfjsAffine(new Float32Array([0.3, 0.3]), 255, 'c');
    expect(Math.fround(c.stored[0] * c.scale + c.min)).toBe(Math.fround(0.3));
  });
});
