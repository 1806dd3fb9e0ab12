/**
 * The float64 micro-kernel of every blocked update in linalg/: a WebAssembly
 * SIMD (f64x2) loop that computes C −= A·B on packed panels.
 *
 *  - A is packed in groups of 4 rows: element (4g + r, k) at A + (g·K + k)·4 + r.
 *  - B is packed in groups of 4 columns: element (k, 4h + c) at B + (h·K + k)·4 + c.
 *  - C is a row-major tile, `ldc` bytes between rows, a multiple of 4 columns wide.
 *
 * Each 4×4 tile of C keeps 8 f64x2 accumulators in registers over the whole K
 * loop: acc = 0; for k: acc = acc + a_k·b_k (one multiply and one add per lane,
 * no fused multiply-add, in k order); then c = c − acc. Lanes are IEEE binary64
 * operations, so the scalar loop `gemmTileScalar` below, doing the same steps in
 * the same order, gives the same bits; it is the path where WebAssembly SIMD is
 * missing and the reference the tests compare the kernel with.
 *
 * The module is emitted here byte by byte, as src/calibrate/bin-kernel.ts does
 * (no toolchain at build or run time). Binary format: WebAssembly Core
 * Specification 2.0, chapter 5; vector instructions in §5.4.8.
 */
import { get, I32, name, section, set, simd, sleb, uleb, V128, vec, wasmApi } from '../util/wasm-emit';

interface GemmExports {
  mem: { buffer: ArrayBuffer };
  gemm(a: number, b: number, c: number, ldc: number, mg: number, ng: number, k: number): void;
}

// ---- the emitter (shared pieces in src/util/wasm-emit.ts) -------------------
const i32 = (v: number): number[] => [0x41, ...sleb(v)];
const op = {
  add: [0x6a], sub: [0x6b], mul: [0x6c], shl: [0x74], geU: [0x4f], eqz: [0x45],
  load: (offset: number) => [...simd(0x00), 4, ...uleb(offset)],
  splat: (offset: number) => [...simd(0x0a), 3, ...uleb(offset)], // v128.load64_splat
  store: (offset: number) => [...simd(0x0b), 4, ...uleb(offset)],
  zero: [...simd(0x0c), ...new Array(16).fill(0)], // v128.const 0
  fadd: simd(0xf0), fsub: simd(0xf1), fmul: simd(0xf2),
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: (d: number) => [0x0c, d], brIf: (d: number) => [0x0d, d],
};

/** Body of gemm(a, b, c, ldc, mg, ng, k): params 0..6, then locals. */
function gemmBody(): number[] {
  const P = { a: 0, b: 1, c: 2, ldc: 3, mg: 4, ng: 5, k: 6 };
  const L = { ig: 7, jg: 8, pa: 9, pb: 10, kk: 11, pc: 12, va: 13, vb0: 14, vb1: 15, acc: 16 }; // acc: 16..23 (row r, half h at 16 + 2r + h)
  const out: number[] = [];
  const e = (...xs: number[][]): void => { for (const x of xs) out.push(...x); };
  const acc = (r: number, h: number): number => L.acc + 2 * r + h;
  e(i32(0), set(L.ig), op.block, op.loop, get(L.ig), get(P.mg), op.geU, op.brIf(1));
  e(i32(0), set(L.jg), op.block, op.loop, get(L.jg), get(P.ng), op.geU, op.brIf(1));
  // pa = a + ig·k·32, pb = b + jg·k·32
  e(get(P.a), get(L.ig), get(P.k), op.mul, i32(5), op.shl, op.add, set(L.pa));
  e(get(P.b), get(L.jg), get(P.k), op.mul, i32(5), op.shl, op.add, set(L.pb));
  for (let r = 0; r < 4; r++) for (let h = 0; h < 2; h++) e(op.zero, set(acc(r, h)));
  e(get(P.k), set(L.kk), op.block, op.loop, get(L.kk), op.eqz, op.brIf(1));
  e(get(L.pb), op.load(0), set(L.vb0), get(L.pb), op.load(16), set(L.vb1));
  for (let r = 0; r < 4; r++) {
    e(get(L.pa), op.splat(8 * r), set(L.va));
    e(get(acc(r, 0)), get(L.va), get(L.vb0), op.fmul, op.fadd, set(acc(r, 0)));
    e(get(acc(r, 1)), get(L.va), get(L.vb1), op.fmul, op.fadd, set(acc(r, 1)));
  }
  e(get(L.pa), i32(32), op.add, set(L.pa), get(L.pb), i32(32), op.add, set(L.pb));
  e(get(L.kk), i32(1), op.sub, set(L.kk), op.br(0), op.end, op.end);
  // pc = c + ig·4·ldc + jg·32; each row: c −= acc
  e(get(P.c), get(L.ig), i32(2), op.shl, get(P.ldc), op.mul, op.add, get(L.jg), i32(5), op.shl, op.add, set(L.pc));
  for (let r = 0; r < 4; r++) {
    if (r > 0) e(get(L.pc), get(P.ldc), op.add, set(L.pc));
    for (let h = 0; h < 2; h++) {
      e(get(L.pc), get(L.pc), op.load(16 * h), get(acc(r, h)), op.fsub, op.store(16 * h));
    }
  }
  e(get(L.jg), i32(1), op.add, set(L.jg), op.br(0), op.end, op.end);
  e(get(L.ig), i32(1), op.add, set(L.ig), op.br(0), op.end, op.end);
  e(op.end);
  const locals = vec([[...uleb(6), I32], [...uleb(11), V128]]);
  const code = [...locals, ...out];
  return [...uleb(code.length), ...code];
}

function moduleBytes(pages: number): Uint8Array {
  const type = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([[...name('mem'), 0x02, 0], [...name('gemm'), 0x00, 0]])),
    ...section(10, vec([gemmBody()])),
  ]);
}

/** Panel sizes of one kernel call (the scratch memory holds one of each). */
export const MC = 64;
export const KC = 256;
export const NC = 256;
/** Rows of A packed at once (all of them up to this, so A is packed once per depth panel, not once per column panel). */
export const MA = 4096;
const B_AT = 0;
const C_AT = B_AT + KC * NC * 8;
const A_AT = C_AT + MC * NC * 8;
const BYTES = A_AT + MA * KC * 8;
const PAGES = Math.ceil(BYTES / 65536);

/** Packed panels in a Float64Array, and the call that updates the C tile from them. */
export interface GemmTile {
  /** Scratch: packed A (up to MA rows) at aAt, packed B at bAt, the C tile at cAt (indices in f64 elements). */
  readonly f64: Float64Array;
  readonly aAt: number;
  readonly bAt: number;
  readonly cAt: number;
  /** C tile (ldc f64 elements a row) −= A·B for mg row groups from packed A at aAt + a, ng column groups, depth k. */
  run(a: number, mg: number, ng: number, k: number, ldc: number): void;
}

class WasmTile implements GemmTile {
  readonly f64: Float64Array;
  readonly aAt = A_AT / 8;
  readonly bAt = B_AT / 8;
  readonly cAt = C_AT / 8;
  constructor(private readonly ex: GemmExports) {
    this.f64 = new Float64Array(ex.mem.buffer);
  }
  run(a: number, mg: number, ng: number, k: number, ldc: number): void {
    this.ex.gemm(A_AT + a * 8, B_AT, C_AT, ldc * 8, mg, ng, k);
  }
}

/** The same steps in plain JS: the path without WebAssembly SIMD, and the tests' reference for the kernel. */
export class ScalarTile implements GemmTile {
  readonly f64 = new Float64Array(BYTES / 8);
  readonly aAt = A_AT / 8;
  readonly bAt = B_AT / 8;
  readonly cAt = C_AT / 8;
  run(a: number, mg: number, ng: number, k: number, ldc: number): void {
    gemmTileScalar(this.f64, this.aAt + a, this.bAt, this.cAt, ldc, mg, ng, k);
  }
}

/** C −= A·B on packed panels in `m`, as the wasm kernel does it (same operations, same order). */
export function gemmTileScalar(m: Float64Array, a: number, b: number, c: number, ldc: number, mg: number, ng: number, k: number): void {
  for (let ig = 0; ig < mg; ig++) {
    for (let jg = 0; jg < ng; jg++) {
      for (let r = 0; r < 4; r++) {
        const pc = c + (ig * 4 + r) * ldc + jg * 4;
        for (let cc = 0; cc < 4; cc++) {
          let acc = 0;
          let pa = a + ig * k * 4 + r;
          let pb = b + jg * k * 4 + cc;
          for (let kk = 0; kk < k; kk++, pa += 4, pb += 4) acc += m[pa] * m[pb];
          m[pc + cc] -= acc;
        }
      }
    }
  }
}

let shared: GemmTile | null = null;
/** Set by tests and benchmarks to compare the two paths. */
let forceScalar = false;

/** The process's tile (the wasm kernel where WebAssembly SIMD is available). */
export function gemmTile(): GemmTile {
  if (shared) return shared;
  const wasm = wasmApi<GemmExports>();
  if (wasm && !forceScalar) {
    try {
      shared = new WasmTile(new wasm.Instance(new wasm.Module(moduleBytes(PAGES)), {}).exports);
      return shared;
    } catch {
      // no SIMD: the scalar loop does the same work, bit for bit
    }
  }
  shared = new ScalarTile();
  return shared;
}

/** Which micro-kernel the process uses; `useScalarKernel(true)` switches to the scalar loop (tests, benchmarks). */
export function kernelKind(): 'wasm-simd' | 'scalar' {
  return gemmTile() instanceof ScalarTile ? 'scalar' : 'wasm-simd';
}
export function useScalarKernel(scalar: boolean): void {
  forceScalar = scalar;
  shared = null;
}
