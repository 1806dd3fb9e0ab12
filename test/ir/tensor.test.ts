import { Tensor, pack4, float32ToFloat16Bytes } from '../../src/ir';

describe('Tensor views', () => {
  it('typed() is a zero-copy view over aligned bytes', () => {
    const buf = new Uint8Array(16);
    const t = Tensor.fromBytes('float32', [2, 2], buf);
    const v = t.typed() as Float32Array;
    expect(v).toBeInstanceOf(Float32Array);
    v[3] = 2.5;
    expect(new Float32Array(buf.buffer)[3]).toBe(2.5);
    expect(t.byteLength).toBe(16);
    expect(t.size).toBe(4);
  });

  it('typed() copies misaligned bytes and keeps the values', () => {
    const src = new Float32Array([1.5, -2, 3.25]);
    const backing = new Uint8Array(13);
    backing.set(new Uint8Array(src.buffer), 1);
    const t = Tensor.fromBytes('float32', [3], backing.subarray(1));
    expect(Array.from(t.typed() as Float32Array)).toEqual([1.5, -2, 3.25]);
    expect(() => Tensor.fromBytes('float32', [4], backing.subarray(1)).typed()).toThrow(/need 16 bytes, have 12/);
  });

  it('toFloat32 decodes float16 exactly (IEEE 754 binary16)', () => {
    // 1, -2, max finite, smallest subnormal, 1/3 rounded, +inf, -inf, -0, NaN
    const bits = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x7c00, 0xfc00, 0x8000, 0x7e00]);
    const t = Tensor.fromArray('float16', [bits.length], bits);
    const f = t.toFloat32();
    expect(Array.from(f.subarray(0, 8))).toEqual([1, -2, 65504, 2 ** -24, 0.333251953125, Infinity, -Infinity, -0]);
    expect(Object.is(f[7], -0)).toBe(true);
    expect(Number.isNaN(f[8])).toBe(true);
    // float32 → float16 rounds to nearest even: 1 + 2^-11 is a tie and goes to 1.
    const back = new Uint16Array(float32ToFloat16Bytes(new Float32Array([1, 1 + 2 ** -11, 65504, 1e6])).buffer);
    expect(Array.from(back)).toEqual([0x3c00, 0x3c00, 0x7bff, 0x7c00]);
  });

  it('toFloat32 decodes bfloat16 and widens ints', () => {
    const bf = Tensor.fromArray('bfloat16', [2], new Uint16Array([0x3f80, 0x4049]));
    expect(Array.from(bf.toFloat32())).toEqual([1, 3.140625]);
    const i64 = Tensor.fromArray('int64', [2], new BigInt64Array([-3n, 7n]));
    expect(Array.from(i64.toFloat32())).toEqual([-3, 7]);
  });

  it('unpacks int4/uint4 low nibble first and pack4 inverts it', () => {
    const bytes = new Uint8Array([0x21, 0xf8, 0x07]);
    expect(Array.from(Tensor.fromBytes('int4', [5], bytes).typed() as Int8Array)).toEqual([1, 2, -8, -1, 7]);
    expect(Array.from(Tensor.fromBytes('uint4', [5], bytes).typed() as Uint8Array)).toEqual([1, 2, 8, 15, 7]);
    expect(Array.from(pack4(new Int8Array([1, 2, -8, -1, 7])))).toEqual([0x21, 0xf8, 0x07]);
    expect(Array.from(pack4(new Uint8Array([1, 2, 8, 15, 7])))).toEqual([0x21, 0xf8, 0x07]);
    expect(Tensor.fromBytes('int4', [5], bytes).byteLength).toBe(3);
    expect(() => Tensor.fromBytes('int4', [7], bytes).validate()).toThrow(/needs 4 bytes, found 3/);
  });

  it('lazy tensors report byteLength without loading and load on each bytes() call', () => {
    let loads = 0;
    const t = new Tensor('float32', [2], { kind: 'lazy', byteLength: 8, load: () => { loads++; return new Uint8Array(new Float32Array([4, 5]).buffer); } });
    expect(t.byteLength).toBe(8);
    expect(t.isLazy).toBe(true);
    expect(loads).toBe(0);
    expect(Array.from(t.toFloat32())).toEqual([4, 5]);
    t.bytes();
    expect(loads).toBe(2);
  });

  it('setData clears format storage', () => {
    const t = Tensor.fromArray('float32', [1], new Float32Array([1]));
    t.storage = { kind: 'whatever' };
    t.setData('float32', [1], { kind: 'bytes', bytes: new Uint8Array(4) });
    expect(t.storage).toBeUndefined();
  });
});
