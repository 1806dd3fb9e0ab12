import { DType, DTYPE_BITS, elementCount, packedByteLength } from './dtype';
import { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from './float16';

/**
 * Where a tensor's bytes live. Bytes are always the packed little-endian
 * element encoding (sub-byte types: two per byte, low nibble first, as ONNX
 * stores INT4/UINT4). `bytes` is a zero-copy view (over the model file buffer,
 * a weight shard, ...); `lazy` is read only when a pass asks (external data).
 */
export type TensorData =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'lazy'; readonly byteLength: number; readonly load: () => Uint8Array }
  | { readonly kind: 'strings'; readonly values: readonly Uint8Array[] };

export type NumericArray =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array
  | BigInt64Array | BigUint64Array;

/** Error raised when tensor bytes do not match dtype and shape. */
export class TensorDataError extends Error {}

export class Tensor {
  dtype: DType;
  shape: number[];
  name: string;
  docString?: string;
  /**
   * How the producing format stored the data (ONNX typed field vs raw_data,
   * external-data keys, tfjs stored quantization...). Opaque to the IR, owned
   * by the format that set it; cleared whenever the data is replaced, so an
   * encoder never writes stale storage details.
   */
  storage?: unknown;
  private data: TensorData;
  /**
   * True while `data` holds bytes that no other tensor and no file buffer can
   * see: set by writableBytes() after its private copy, cleared by setData
   * (the caller's bytes may be shared) and by clone() (the bytes are now shared).
   */
  private owned = false;

  constructor(dtype: DType, shape: number[], data: TensorData, name = '') {
    this.dtype = dtype;
    this.shape = shape;
    this.data = data;
    this.name = name;
  }

  static fromBytes(dtype: DType, shape: number[], bytes: Uint8Array, name = ''): Tensor {
    return new Tensor(dtype, shape, { kind: 'bytes', bytes }, name);
  }

  /** Wraps a typed array without copying (its buffer range becomes the tensor bytes). */
  static fromArray(dtype: DType, shape: number[], arr: NumericArray, name = ''): Tensor {
    const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    return Tensor.fromBytes(dtype, shape, bytes, name);
  }

  static fromStrings(shape: number[], values: readonly Uint8Array[], name = ''): Tensor {
    return new Tensor('string', shape, { kind: 'strings', values }, name);
  }

  get size(): number {
    return elementCount(this.shape);
  }

  /** Stored byte length (packed), without loading lazy data. */
  get byteLength(): number {
    switch (this.data.kind) {
      case 'bytes': return this.data.bytes.byteLength;
      case 'lazy': return this.data.byteLength;
      case 'strings': return this.data.values.reduce((s, v) => s + v.byteLength, 0);
    }
  }

  get isLazy(): boolean {
    return this.data.kind === 'lazy';
  }

  get dataSource(): TensorData {
    return this.data;
  }

  /** Packed little-endian bytes. Lazy data is loaded on each call and not cached, so a model is never held twice. */
  bytes(): Uint8Array {
    switch (this.data.kind) {
      case 'bytes': return this.data.bytes;
      case 'lazy': return this.data.load();
      case 'strings': throw new TensorDataError(`tensor '${this.name}' holds strings, not bytes`);
    }
  }

  strings(): readonly Uint8Array[] {
    if (this.data.kind !== 'strings') throw new TensorDataError(`tensor '${this.name}' is ${this.dtype}, not string`);
    return this.data.values;
  }

  /** Replace the data (and possibly dtype/shape). Clears format storage details. */
  setData(dtype: DType, shape: number[], data: TensorData): void {
    this.dtype = dtype;
    this.shape = shape;
    this.data = data;
    this.storage = undefined;
    this.owned = false;
  }

  /**
   * A new Tensor over the same data: no bytes are copied (a view over the model
   * file, a shard, a lazy external-data loader are shared as they are). The two
   * tensors are copy-on-write: setData on either replaces only its own data, and
   * a pass that writes in place goes through writableBytes()/writableFloat32(),
   * which copy first. Writing into typed()/bytes()/toFloat32() views directly
   * would reach both tensors (and the source file's buffer): never do that.
   * `storage` is shared by reference; formats replace it, never mutate it
   * (Model.clone deep-copies it anyway).
   */
  clone(): Tensor {
    const t = new Tensor(this.dtype, [...this.shape], this.data, this.name);
    if (this.docString !== undefined) t.docString = this.docString;
    t.storage = this.storage;
    this.owned = false;
    return t;
  }

  /**
   * The packed bytes, for writing in place. The first call makes a private copy
   * and installs it (so the write never reaches a clone, the model file's buffer
   * or another tensor viewing the same bytes) and clears `storage`, as setData
   * does: the format's notes describe the old data. Later calls return the same
   * buffer until the data is replaced or the tensor cloned. Lazy data is loaded
   * once here. Cost: one copy of this tensor's bytes per write session.
   */
  writableBytes(): Uint8Array {
    if (this.data.kind === 'strings') throw new TensorDataError(`tensor '${this.name}' holds strings, not bytes`);
    if (!this.owned || this.data.kind !== 'bytes') {
      // Not bytes().slice(): on a Node Buffer (protobufjs decodes bytes fields as Buffers) slice is a view.
      const src = this.bytes();
      const copy = new Uint8Array(src.byteLength);
      copy.set(src);
      this.setData(this.dtype, this.shape, { kind: 'bytes', bytes: copy });
      this.owned = true;
    }
    return (this.data as { bytes: Uint8Array }).bytes;
  }

  /**
   * The elements as a typed array that may be written in place (see
   * writableBytes). Sub-byte types have no in-place view (typed() unpacks them
   * into a copy): build new bytes and call setData instead.
   */
  writableTyped(): NumericArray {
    if (DTYPE_BITS[this.dtype] < 8) throw new TensorDataError(`tensor '${this.name}': ${this.dtype} elements are packed; write new bytes with setData`);
    const b = this.writableBytes();
    const t = this.typed();
    if (t.buffer !== b.buffer) throw new TensorDataError(`tensor '${this.name}': no in-place view for ${this.dtype}`);
    return t;
  }

  /** writableTyped() for a float32 tensor; any other dtype throws (decode with toFloat32 and setData instead). */
  writableFloat32(): Float32Array {
    if (this.dtype !== 'float32') throw new TensorDataError(`tensor '${this.name}' is ${this.dtype}, not float32`);
    return this.writableTyped() as Float32Array;
  }

  /** Checks that the byte length agrees with dtype and shape. */
  validate(): void {
    if (this.dtype === 'string' || DTYPE_BITS[this.dtype] === 0) return;
    const want = packedByteLength(this.dtype, this.size);
    if (this.byteLength !== want) {
      throw new TensorDataError(`tensor '${this.name}': ${this.dtype}${JSON.stringify(this.shape)} needs ${want} bytes, found ${this.byteLength}`);
    }
  }

  /**
   * The elements in their natural typed array. A zero-copy view when the bytes
   * are aligned; otherwise one copy. Sub-byte ints unpack to Int8Array/Uint8Array;
   * float16/bfloat16 come back as raw Uint16Array (use toFloat32 to decode).
   */
  typed(): NumericArray {
    const b = this.bytes();
    const n = this.size;
    switch (this.dtype) {
      case 'float32': return view(b, Float32Array, n);
      case 'float64': return view(b, Float64Array, n);
      case 'int8': return new Int8Array(b.buffer, b.byteOffset, n);
      case 'uint8': case 'bool': return new Uint8Array(b.buffer, b.byteOffset, n);
      case 'int16': return view(b, Int16Array, n);
      case 'uint16': case 'float16': case 'bfloat16': return view(b, Uint16Array, n);
      case 'int32': return view(b, Int32Array, n);
      case 'uint32': return view(b, Uint32Array, n);
      case 'int64': return view(b, BigInt64Array, n);
      case 'uint64': return view(b, BigUint64Array, n);
      case 'int4': return unpack4(b, n, true);
      case 'uint4': return unpack4(b, n, false);
      case 'float8e4m3fn': case 'float8e4m3fnuz': case 'float8e5m2': case 'float8e5m2fnuz':
        return new Uint8Array(b.buffer, b.byteOffset, n);
      default: throw new TensorDataError(`tensor '${this.name}': no typed view for ${this.dtype}`);
    }
  }

  /**
   * Values as float32. A view for aligned float32 data, shared with clones and
   * the model file: read only (write through writableFloat32()); a decoded copy otherwise.
   */
  toFloat32(): Float32Array {
    const t = this.typed();
    if (t instanceof Float32Array) return t;
    const out = new Float32Array(t.length);
    if (this.dtype === 'float16') for (let i = 0; i < t.length; i++) out[i] = halfToFloat(t[i] as number);
    else if (this.dtype === 'bfloat16') for (let i = 0; i < t.length; i++) out[i] = bfloat16ToFloat(t[i] as number);
    else if (t instanceof BigInt64Array || t instanceof BigUint64Array) for (let i = 0; i < t.length; i++) out[i] = Number(t[i]);
    else if (this.dtype.startsWith('float8')) throw new TensorDataError(`tensor '${this.name}': float8 decode not supported`);
    else for (let i = 0; i < t.length; i++) out[i] = t[i] as number;
    return out;
  }
}

function view<T extends NumericArray>(
  b: Uint8Array,
  Ctor: { new (buf: ArrayBufferLike, off: number, len: number): T; new (len: number): T; BYTES_PER_ELEMENT: number },
  n: number,
): T {
  if (b.byteLength < n * Ctor.BYTES_PER_ELEMENT) throw new TensorDataError(`need ${n * Ctor.BYTES_PER_ELEMENT} bytes, have ${b.byteLength}`);
  if (b.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(b.buffer, b.byteOffset, n);
  const copy = new Uint8Array(n * Ctor.BYTES_PER_ELEMENT);
  copy.set(b.subarray(0, copy.byteLength));
  return new Ctor(copy.buffer, 0, n);
}

function unpack4(b: Uint8Array, n: number, signed: boolean): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const byte = b[i >> 1];
    let v = i & 1 ? byte >> 4 : byte & 0x0f;
    if (signed && v > 7) v -= 16;
    out[i] = v;
  }
  return out;
}

/** Packs 4-bit values (low nibble first), as ONNX INT4/UINT4 and MatMulNBits store them. */
export function pack4(values: Int8Array | Uint8Array): Uint8Array {
  const out = new Uint8Array((values.length + 1) >> 1);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] & 0x0f;
    out[i >> 1] |= i & 1 ? v << 4 : v;
  }
  return out;
}

/** Encode float32 values into a float16 tensor's bytes. */
export function float32ToFloat16Bytes(src: Float32Array): Uint8Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = floatToHalf(src[i]);
  return new Uint8Array(out.buffer);
}

export function float32ToBfloat16Bytes(src: Float32Array): Uint8Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = floatToBfloat16(src[i]);
  return new Uint8Array(out.buffer);
}
