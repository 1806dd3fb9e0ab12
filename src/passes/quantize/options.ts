/**
 * Typed options of weight quantization, shared by the CLI (`mc quantize`) and
 * the library API. `resolveQuantizeOptions` fills defaults and rejects
 * combinations that have no meaning, with one clear line each.
 */
import { UsageError } from '../../errors';
import { STATIC_TARGETS, type StaticTarget } from './static/options';

export type QuantBits = 8 | 4;
export type QuantMode = 'weight' | 'dynamic';
export type Granularity = 'tensor' | 'channel' | 'block';
export type Int4Format = 'matmulnbits' | 'qdq';
export type TfjsDtypeChoice = 'uint8' | 'uint16' | 'float16' | 'auto';

export interface QuantizeOptions {
  bits: QuantBits;
  /** 'weight': weights stored quantized, compute in float. 'dynamic': int8 compute with activations quantized at run time (ONNX only). */
  mode: QuantMode;
  granularity: Granularity;
  /** Elements per block along the reduction axis (granularity 'block'). */
  blockSize: number;
  symmetric: boolean;
  /** How int4 MatMul weights are written; Conv/Gather/odd Gemm weights always use 'qdq'. */
  int4Format: Int4Format;
  /** Weight (initializer) names or node names to leave in float, as minimatch globs. */
  exclude: string[];
  /** Only quantize weights of these op types (e.g. ['MatMul', 'Gemm']); undefined = every op the registry knows. */
  opTypes?: string[];
  /** Weights with fewer elements stay float. */
  minElements: number;
  /**
   * tfjs storage dtype; 'auto' keeps a tensor wider (uint16 or float16, whichever is closer) when uint8 (or, with
   * bits 4, the 16 levels) would give weight SQNR below minWeightSqnrDb. Default: 'auto' for 8 bits, 'uint8' for 4.
   */
  tfjsDtype: TfjsDtypeChoice;
  minWeightSqnrDb: number;
  /**
   * The CPU the int8 compute forms are chosen for (dynamic mode): 'portable' and 'avx2' give
   * MatMulInteger/ConvInteger 7-bit weights (params.ts reducedInt8Range), exact where AVX2 adds
   * u8×s8 products in saturating int16 pairs; 'avx512-vnni' and 'arm64' keep the full int8 range.
   */
  target: StaticTarget;
  /**
   * Per-weight settings that replace the run's own for the named weights
   * (initializer names). The output check's back-off writes them
   * (src/pipeline/verify-outputs.ts); a weight to keep in float goes to
   * `exclude` instead (as an escaped glob).
   */
  overrides?: ReadonlyMap<string, WeightOverride>;
}

/**
 * What one weight gets instead of the run's settings; fields left out keep the run's.
 * A recipe with several quantize steps (src/plan/apply.ts) sets every field a step can
 * set; the output check's back-off sets bits and granularity, or tfjsDtype.
 */
export interface WeightOverride {
  bits?: QuantBits;
  mode?: QuantMode;
  granularity?: Granularity;
  blockSize?: number;
  symmetric?: boolean;
  int4Format?: Int4Format;
  minElements?: number;
  minWeightSqnrDb?: number;
  target?: StaticTarget;
  /** tfjs storage of this weight ('auto' does not apply to a single weight). */
  tfjsDtype?: 'uint8' | 'uint16' | 'float16';
  /** Why, for the report. */
  reason: string;
}

/** The settings that apply to weight `name`: the run's, with its override (if any) laid over them. */
export function optionsFor(opts: QuantizeOptions, name: string): QuantizeOptions {
  const o = opts.overrides?.get(name);
  if (!o) return opts;
  return {
    ...opts,
    bits: o.bits ?? opts.bits,
    mode: o.mode ?? opts.mode,
    granularity: o.granularity ?? opts.granularity,
    blockSize: o.blockSize ?? opts.blockSize,
    symmetric: o.symmetric ?? opts.symmetric,
    int4Format: o.int4Format ?? opts.int4Format,
    minElements: o.minElements ?? opts.minElements,
    minWeightSqnrDb: o.minWeightSqnrDb ?? opts.minWeightSqnrDb,
    target: o.target ?? opts.target,
    tfjsDtype: o.tfjsDtype ?? opts.tfjsDtype,
  };
}

/** Defaults per the design: int8 per-channel symmetric; int4 block 32 on the reduction axis. */
export function defaultQuantizeOptions(bits: QuantBits = 8): QuantizeOptions {
  return {
    bits,
    mode: 'weight',
    granularity: bits === 4 ? 'block' : 'channel',
    blockSize: 32,
    symmetric: true,
    int4Format: 'matmulnbits',
    exclude: [],
    opTypes: undefined,
    // 0: every weight whose quantized form is smaller (select.ts quantizedBytesBound); the output check guards accuracy.
    minElements: 0,
    // 4-bit levels always measure below a 30 dB bound, so 'auto' would undo --bits 4: keep the 16 levels.
    tfjsDtype: bits === 4 ? 'uint8' : 'auto',
    minWeightSqnrDb: 30,
    target: 'portable',
  };
}

/** Defaults for what `partial` leaves out (granularity follows `bits`), then validation. */
export function resolveQuantizeOptions(partial: Partial<QuantizeOptions> = {}): QuantizeOptions {
  const bits = partial.bits ?? 8;
  if (bits !== 8 && bits !== 4) throw new UsageError(`--bits must be 8 or 4, got ${String(bits)}`);
  const o: QuantizeOptions = { ...defaultQuantizeOptions(bits), ...stripUndefined(partial) };
  if (o.mode !== 'weight' && o.mode !== 'dynamic') throw new UsageError(`--mode must be weight or dynamic, got ${String(o.mode)}`);
  if (!['tensor', 'channel', 'block'].includes(o.granularity)) throw new UsageError(`--granularity must be tensor, channel or block, got ${String(o.granularity)}`);
  if (!Number.isInteger(o.blockSize) || o.blockSize < 16 || (o.blockSize & (o.blockSize - 1)) !== 0) {
    // MatMulNBits requires a power of two ≥ 16 (ORT contrib op spec); keep one rule for every form.
    throw new UsageError(`--block-size must be a power of two ≥ 16, got ${String(o.blockSize)}`);
  }
  if (!['matmulnbits', 'qdq'].includes(o.int4Format)) throw new UsageError(`--int4-format must be matmulnbits or qdq, got ${String(o.int4Format)}`);
  if (!['uint8', 'uint16', 'float16', 'auto'].includes(o.tfjsDtype)) throw new UsageError(`--tfjs-dtype must be uint8, uint16, float16 or auto, got ${String(o.tfjsDtype)}`);
  if (!STATIC_TARGETS.includes(o.target)) throw new UsageError(`--target must be one of ${STATIC_TARGETS.join(', ')}, got ${String(o.target)}`);
  if (!Number.isInteger(o.minElements) || o.minElements < 0) throw new UsageError(`--min-elements must be a non-negative integer, got ${String(o.minElements)}`);
  if (!Number.isFinite(o.minWeightSqnrDb)) throw new UsageError(`minWeightSqnrDb must be a number`);
  if (o.mode === 'dynamic' && o.bits !== 8) throw new UsageError('--mode dynamic needs --bits 8 (int8 MatMulInteger/ConvInteger)');
  if (o.mode === 'dynamic' && o.granularity === 'block') throw new UsageError('--mode dynamic supports --granularity tensor or channel, not block');
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
