/**
 * The weight quantizer's hot loops for row stretches (weights.ts: channels on the last
 * axis, as MatMul B [K, N] per column; blocks along a leading axis, as int4 blocks along
 * K) as a WebAssembly SIMD kernel. Each function walks `rows` consecutive rows of `len`
 * float32 values (len a multiple of 4), element j of every row in group j:
 *   absmax(p, rows, len, am)            am[j] = max(am[j], bits(w) & 0x7fffffff)   (int32)
 *   minmax(p, rows, len, mn, mx)        mn[j] = w < mn[j] ? w : mn[j], mx likewise (float32)
 *   quantize_s/_u(p, out, rows, len, inv, lo, hi, sc, zp, acc)
 *       x = f32(f64(w) · inv[j]), clamped to [lo[j], hi[j]], q = roundTiesToEven(x),
 *       out = q + zp[j] narrowed to a byte (signed or unsigned saturation: q + zp is always
 *       in range), and acc[0] += w², acc[1] += (w − f32(q · sc[j]))² in element order.
 * These are the JS loops of weights.ts operation for operation, so the bytes, scales and
 * the SQNR sums are identical (test/quantize/weight-kernel.test.ts compares them):
 *  - f64x2.mul then f32x4.demote_f64x2_zero is Math.fround(v · inv);
 *  - pmax(lo, x) / pmin(hi, x) are the JS clamps for every non-NaN x (a NaN weight poisons
 *    the sums and is refused by the caller either way);
 *  - f64x2.nearest is IEEE roundTiesToEven, which the JS ROUND_MAGIC trick computes;
 *  - the sums are scalar f64 adds taken lane by lane in element order (vector partial sums
 *    would change the last bits of the reported SQNR);
 *  - f32x4.pmin/pmax(a, w) are `w < a ? w : a` / `a < w ? w : a`, the JS comparisons;
 *  - i32x4.max_s on |bits| is the JS branchless integer maximum.
 * Built byte by byte (src/util/wasm-emit.ts); binary format: WebAssembly Core
 * Specification 2.0, chapter 5, vector instructions in §5.4.
 */
import { F64, get, I32, name, section, set, simd, tee, uleb, V128, vec, wasmApi, sleb } from '../../util/wasm-emit';

interface Exports {
  mem: { buffer: ArrayBuffer; grow(pages: number): number };
  absmax(p: number, rows: number, len: number, am: number): void;
  minmax(p: number, rows: number, len: number, mn: number, mx: number): void;
  quantize_s(p: number, out: number, rows: number, len: number, inv: number, lo: number, hi: number, sc: number, zp: number, acc: number): void;
  quantize_u(p: number, out: number, rows: number, len: number, inv: number, lo: number, hi: number, sc: number, zp: number, acc: number): void;
}

const memarg = (align: number, offset = 0): number[] => [align, ...uleb(offset)];
const i32c = (v: number): number[] => [0x41, ...sleb(v)];
const op = {
  i32Add: [0x6a], i32Sub: [0x6b], i32Mul: [0x6c], i32Shl: [0x74], i32ShrU: [0x76], i32Eqz: [0x45], i32GeU: [0x4f],
  f64Load: (o: number) => [0x2b, ...memarg(3, o)], f64Store: (o: number) => [0x39, ...memarg(3, o)], f64Add: [0xa0],
  load: (o = 0) => [...simd(0x00), ...memarg(4, o)],
  store: (o = 0) => [...simd(0x0b), ...memarg(4, o)],
  load64Zero: (o = 0) => [...simd(0x5d), ...memarg(3, o)],
  store32Lane: (lane: number) => [...simd(0x5a), ...memarg(2), lane],
  shuffle: (lanes: number[]) => [...simd(0x0d), ...lanes],
  i32x4Splat: simd(0x11), f64x2Extract: (l: number) => [...simd(0x21), l],
  and: simd(0x4e),
  i8x16NarrowS: simd(0x65), i8x16NarrowU: simd(0x66), i16x8NarrowS: simd(0x85),
  f32x4Demote: simd(0x5e), f64x2Promote: simd(0x5f),
  f64x2Nearest: simd(0x94), i32x4Add: simd(0xae), i32x4MaxS: simd(0xb8),
  f32x4Pmin: simd(0xea), f32x4Pmax: simd(0xeb),
  f64x2Sub: simd(0xf1), f64x2Mul: simd(0xf2), f64x2Pmin: simd(0xf6), f64x2Pmax: simd(0xf7),
  i32x4TruncSatF64Zero: simd(0xfc),
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: (d: number) => [0x0c, d], brIf: (d: number) => [0x0d, d],
};
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** i32 lanes 0, 1 of a and 0, 1 of b. */
const LOW_PAIRS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

type Emit = (...xs: number[][]) => void;

function body(locals: [number, number][], build: (e: Emit) => void): number[] {
  const b: number[] = [];
  build((...xs) => { for (const x of xs) b.push(...x); });
  b.push(...op.end);
  const code = [...vec(locals.map(([n, t]) => [...uleb(n), t])), ...b];
  return [...uleb(code.length), ...code];
}

/**
 * Loops `rows` rows of `len` floats from p; per row, jb runs over the row's bytes 16 at a time
 * and `step(e)` does one vector (jb is local JB, the row base local P). `after` advances extra pointers.
 */
function rowLoop(e: Emit, P: number, ROWS: number, LEN4: number, JB: number, step: () => void, after: () => void): void {
  e(op.block, op.loop, get(ROWS), op.i32Eqz, op.brIf(1));
  e(i32c(0), set(JB));
  e(op.block, op.loop, get(JB), get(LEN4), op.i32GeU, op.brIf(1));
  step();
  e(get(JB), i32c(16), op.i32Add, set(JB), op.br(0), op.end, op.end);
  e(get(P), get(LEN4), op.i32Add, set(P));
  after();
  e(get(ROWS), i32c(1), op.i32Sub, set(ROWS), op.br(0), op.end, op.end);
}

/** absmax params: 0 p, 1 rows, 2 len, 3 am; locals 4 len4, 5 jb (i32), 6 mask (v128). */
function absmaxBody(): number[] {
  return body([[2, I32], [1, V128]], (e) => {
    e(get(2), i32c(4), op.i32Mul, set(4), i32c(0x7fffffff), op.i32x4Splat, set(6));
    rowLoop(e, 0, 1, 4, 5, () => {
      e(get(3), get(5), op.i32Add, tee(2)); // len is free after len4: reuse it as the address
      e(get(2), op.load(), get(0), get(5), op.i32Add, op.load(), get(6), op.and, op.i32x4MaxS, op.store());
    }, () => {});
  });
}

/** minmax params: 0 p, 1 rows, 2 len, 3 mn, 4 mx; locals 5 len4, 6 jb, 7 addr (i32), 8 v (v128). */
function minmaxBody(): number[] {
  return body([[3, I32], [1, V128]], (e) => {
    e(get(2), i32c(4), op.i32Mul, set(5));
    rowLoop(e, 0, 1, 5, 6, () => {
      e(get(0), get(6), op.i32Add, op.load(), set(8));
      e(get(3), get(6), op.i32Add, tee(7), get(7), op.load(), get(8), op.f32x4Pmin, op.store());
      e(get(4), get(6), op.i32Add, tee(7), get(7), op.load(), get(8), op.f32x4Pmax, op.store());
    }, () => {});
  });
}

/**
 * quantize params: 0 p, 1 out, 2 rows, 3 len, 4 inv, 5 lo, 6 hi, 7 sc, 8 zp, 9 acc
 * locals: 10 len4, 11 jb, 12 jb2 (i32); 13 signal, 14 noise (f64); 15 v, 16 w, 17 x, 18 q0, 19 q1, 20 e (v128)
 */
function quantizeBody(unsigned: boolean): number[] {
  const [P, OUT, ROWS, LEN, INV, LO, HI, SC, ZP, ACC, LEN4, JB, JB2, SIG, NOI, V, W, X, Q0, Q1, E] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  return body([[3, I32], [2, F64], [6, V128]], (e) => {
    e(get(LEN), i32c(4), op.i32Mul, set(LEN4));
    e(get(ACC), op.f64Load(0), set(SIG), get(ACC), op.f64Load(8), set(NOI));
    /** One f64x2 half: w (local W) → q (local Q), sums updated; f64 params at byte jb2 + off, f32 scales at jb + off / 2. */
    const half = (q: number, off: number): void => {
      e(get(W), get(INV), get(JB2), op.i32Add, op.load(off), op.f64x2Mul, op.f32x4Demote, op.f64x2Promote, set(X));
      e(get(LO), get(JB2), op.i32Add, op.load(off), get(X), op.f64x2Pmax, set(X));
      e(get(HI), get(JB2), op.i32Add, op.load(off), get(X), op.f64x2Pmin, op.f64x2Nearest, set(q));
      e(get(W), get(q), get(SC), get(JB), op.i32Add, op.load64Zero(off / 2), op.f64x2Promote, op.f64x2Mul, op.f32x4Demote, op.f64x2Promote, op.f64x2Sub, set(E));
      e(get(W), get(W), op.f64x2Mul, set(X), get(E), get(E), op.f64x2Mul, set(E));
      for (const l of [0, 1]) {
        e(get(SIG), get(X), op.f64x2Extract(l), op.f64Add, set(SIG));
        e(get(NOI), get(E), op.f64x2Extract(l), op.f64Add, set(NOI));
      }
    };
    rowLoop(e, P, ROWS, LEN4, JB, () => {
      e(get(P), get(JB), op.i32Add, op.load(), set(V), get(JB), i32c(1), op.i32Shl, set(JB2));
      e(get(V), op.f64x2Promote, set(W));
      half(Q0, 0);
      e(get(V), get(V), op.shuffle(HIGH_HALF), op.f64x2Promote, set(W));
      half(Q1, 16);
      e(get(OUT), get(JB), i32c(2), op.i32ShrU, op.i32Add);
      e(get(Q0), op.i32x4TruncSatF64Zero, get(Q1), op.i32x4TruncSatF64Zero, op.shuffle(LOW_PAIRS));
      e(get(ZP), get(JB), op.i32Add, op.load(), op.i32x4Add, tee(V), get(V), op.i16x8NarrowS, tee(V), get(V));
      e(unsigned ? op.i8x16NarrowU : op.i8x16NarrowS, op.store32Lane(0));
    }, () => e(get(OUT), get(LEN), op.i32Add, set(OUT)));
    e(get(ACC), get(SIG), op.f64Store(0), get(ACC), get(NOI), op.f64Store(8));
  });
}

function moduleBytes(): Uint8Array {
  const t4 = [0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])];
  const t5 = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  const t10 = [0x60, ...vec(Array.from({ length: 10 }, () => [I32])), ...vec([])];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([t4, t5, t10])),
    ...section(3, vec([[0], [1], [2], [2]])),
    ...section(5, vec([[0x00, ...uleb(1)]])), // memory 0: 1 page to start, grown on demand
    ...section(7, vec([
      [...name('mem'), 0x02, 0], [...name('absmax'), 0x00, 0], [...name('minmax'), 0x00, 1],
      [...name('quantize_s'), 0x00, 2], [...name('quantize_u'), 0x00, 3],
    ])),
    ...section(10, vec([absmaxBody(), minmaxBody(), quantizeBody(false), quantizeBody(true)])),
  ]);
}

/** Bytes of float data copied into the module per call (rows are never split). */
const CHUNK_BYTES = 1 << 20;
const PAGE = 65536;

/** Per-group parameters of one segment, as weights.ts computes them. */
export interface RowParams {
  scales: Float32Array;
  inv: Float64Array;
  zps: Int32Array;
  lo: Float64Array;
  hi: Float64Array;
}

/**
 * One instance per thread (calls are synchronous). Memory: a fixed region for up to
 * `size` groups' parameters and scratch, then one chunk of rows in and out.
 */
export class WeightKernel {
  private size = 0;
  private rowsCap = 0;
  /** Bytes at the start of memory held by inputBuffer (the layout starts after them). */
  private base = 0;
  private at = { am: 0, mn: 0, mx: 0, inv: 0, lo: 0, hi: 0, sc: 0, zp: 0, acc: 0, w: 0, out: 0 };

  private constructor(private readonly ex: Exports) {}

  static create(): WeightKernel | undefined {
    const wasm = wasmApi<Exports>();
    if (!wasm) return undefined;
    try {
      return new WeightKernel(new wasm.Instance(new wasm.Module(moduleBytes()), {}).exports);
    } catch {
      return undefined; // no SIMD: the JS loops do the same work
    }
  }

  /**
   * A float32 array of n elements inside the module's memory, for a caller that reads a weight
   * straight into it (a worker): the kernel then works on it in place, without copying it in
   * chunk by chunk. Memory for rows of up to `maxLen` groups is reserved too, so no later
   * growth detaches the array. undefined when memory cannot grow that far.
   */
  inputBuffer(n: number, maxLen: number): Float32Array | undefined {
    const base = Math.ceil((n * 4) / 16) * 16;
    const reserve = 48 * maxLen + 512 + Math.ceil(1.25 * Math.max(CHUNK_BYTES, 4 * maxLen));
    const need = Math.ceil((base + reserve) / PAGE) - this.ex.mem.buffer.byteLength / PAGE;
    try {
      if (need > 0) this.ex.mem.grow(need);
    } catch {
      return undefined;
    }
    this.base = base;
    this.size = 0; // lay out again after the input
    return new Float32Array(this.ex.mem.buffer, 0, n);
  }

  /** Lays out memory for rows of `len` groups (grows it when needed). */
  private layout(len: number): void {
    if (len === this.size) return;
    const rowBytes = len * 4;
    const rows = Math.max(1, Math.floor(CHUNK_BYTES / rowBytes));
    let p = this.base;
    const take = (bytes: number): number => { const a = p; p += Math.ceil(bytes / 16) * 16; return a; };
    const at = {
      acc: take(16), am: take(len * 4), mn: take(len * 4), mx: take(len * 4), inv: take(len * 8), lo: take(len * 8),
      hi: take(len * 8), sc: take(len * 4 + 8), zp: take(len * 4), w: take(rows * rowBytes), out: take(rows * len),
    };
    const need = Math.ceil(p / PAGE) - this.ex.mem.buffer.byteLength / PAGE;
    // Growing detaches the arrays over the old memory: never while an inputBuffer is in use.
    if (need > 0 && this.base > 0) throw new Error(`weight kernel: rows of ${len} exceed the memory reserved with the input buffer`);
    if (need > 0) this.ex.mem.grow(need);
    this.at = at;
    this.size = len;
    this.rowsCap = rows;
  }

  /** max |w| bits of each group over rows [r0, r1) of w viewed as [*, len]: into am (Int32Array of len). */
  absMaxRows(w: Float32Array, base: number, rows: number, len: number, am: Int32Array): void {
    this.layout(len);
    const mem = this.ex.mem.buffer;
    new Int32Array(mem, this.at.am, len).set(am);
    this.chunks(w, base, rows, len, (p, n) => this.ex.absmax(p, n, len, this.at.am));
    am.set(new Int32Array(this.ex.mem.buffer, this.at.am, len));
  }

  /** min/max of each group (starting from the values in min/max, float64 arrays of len). */
  minMaxRows(w: Float32Array, base: number, rows: number, len: number, min: Float64Array, max: Float64Array): void {
    this.layout(len);
    const mem = this.ex.mem.buffer;
    new Float32Array(mem, this.at.mn, len).set(min);
    new Float32Array(mem, this.at.mx, len).set(max);
    this.chunks(w, base, rows, len, (p, n) => this.ex.minmax(p, n, len, this.at.mn, this.at.mx));
    min.set(new Float32Array(this.ex.mem.buffer, this.at.mn, len));
    max.set(new Float32Array(this.ex.mem.buffer, this.at.mx, len));
  }

  /** Quantizes rows [base, base + rows·len) into out, adding to acc = [signal, noise]. */
  quantizeRows(w: Float32Array, out: Uint8Array, base: number, rows: number, len: number, p: RowParams, unsigned: boolean, acc: Float64Array): void {
    this.layout(len);
    const mem = this.ex.mem.buffer;
    const a = this.at;
    new Float64Array(mem, a.inv, len).set(p.inv);
    new Float64Array(mem, a.lo, len).set(p.lo);
    new Float64Array(mem, a.hi, len).set(p.hi);
    new Float32Array(mem, a.sc, len).set(p.scales);
    new Int32Array(mem, a.zp, len).set(p.zps);
    new Float64Array(mem, a.acc, 2).set(acc);
    const q = unsigned ? this.ex.quantize_u : this.ex.quantize_s;
    this.chunks(w, base, rows, len, (ptr, n, from) => {
      q(ptr, a.out, n, len, a.inv, a.lo, a.hi, a.sc, a.zp, a.acc);
      out.set(new Uint8Array(this.ex.mem.buffer, a.out, n * len), from);
    });
    acc.set(new Float64Array(this.ex.mem.buffer, a.acc, 2));
  }

  /** Copies rows chunk by chunk into the module (unless w is inside it) and calls run(address, rows, first element). */
  private chunks(w: Float32Array, base: number, rows: number, len: number, run: (p: number, n: number, from: number) => void): void {
    if (w.buffer === this.ex.mem.buffer) {
      for (let r = 0; r < rows; r += this.rowsCap) {
        const n = Math.min(this.rowsCap, rows - r);
        const from = base + r * len;
        run(w.byteOffset + from * 4, n, from);
      }
      return;
    }
    for (let r = 0; r < rows; r += this.rowsCap) {
      const n = Math.min(this.rowsCap, rows - r);
      const from = base + r * len;
      new Float32Array(this.ex.mem.buffer, this.at.w, n * len).set(w.subarray(from, from + n * len));
      run(this.at.w, n, from);
    }
  }
}

let shared: WeightKernel | undefined | null = null;
let scalarOnly = false;

/** The thread's kernel, or undefined where WebAssembly SIMD is missing or the scalar loops were asked for. */
export function weightKernel(): WeightKernel | undefined {
  if (scalarOnly) return undefined;
  if (shared === null) shared = WeightKernel.create();
  return shared;
}

/** Forces the JS loops (tests compare the two paths; a worker follows its parent's choice). */
export function useScalarWeightLoops(on: boolean): void {
  scalarOnly = on;
}

/** Whether the JS loops were forced (useScalarWeightLoops). */
export function scalarWeightLoops(): boolean {
  return scalarOnly;
}
