/**
 * The pieces of a minimal WebAssembly binary emitter shared by mc's hand-written
 * SIMD kernels (src/calibrate/bin-kernel.ts, src/linalg/gemm-kernel.ts): LEB128
 * integers, vectors, sections, names, the SIMD opcode prefix, value types and
 * local access. Binary format: WebAssembly Core Specification 2.0, §5.
 */

/** Unsigned LEB128. */
export const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};

/** Signed LEB128 of a non-negative i32 constant (bit 6 of the last byte must be 0). */
export const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if (n === 0 && (b & 0x40) === 0) { out.push(b); return out; }
    out.push(b | 0x80);
  }
};

export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
export const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));
/** A SIMD instruction: the 0xfd prefix and its opcode. */
export const simd = (op: number): number[] => [0xfd, ...uleb(op)];
export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;
export const get = (i: number): number[] => [0x20, i];
export const set = (i: number): number[] => [0x21, i];
export const tee = (i: number): number[] => [0x22, i];

/** The slice of the WebAssembly global a kernel needs, typed by its exports. */
export interface WasmApi<E> {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: E };
}

/** The process's WebAssembly global, or undefined where there is none. */
export function wasmApi<E>(): WasmApi<E> | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi<E> }).WebAssembly;
}
