/**
 * Typed options of weight quantization, shared by the CLI (`mc quantize`) and
 * the library API. `resolveQuantizeOptions` fills defaults and rejects
 * combinations that have no meaning, with one clear line each.
 */
import { UsageError } from '../../errors';
import { STATIC_TARGETS, type StaticTarget } from './static/options';
import type { QuantizedWeight } from './weights';

export type QuantBits = 8 | 4;
export type QuantMode = 'weight' | 'dynamic';
export type Granularity = 'tensor' | 'channel' | 'block';
export type Int4Format = 'matmulnbits' | 'qdq';
export type TfjsDtypeChoice = 'uint8' | 'uint16' | 'float16' | 'auto';
/** How the integer levels of a weight are chosen: round to nearest (round 1) or GPTQ on the layer's calibration inputs (issue 12). */
export type QuantMethod = 'rtn' | 'gptq';
export const QUANT_METHODS: readonly QuantMethod[] = ['rtn', 'gptq'];

/**
 * Weight reconstruction settings (src/pipeline/reconstruct.ts computes the levels
 * from calibration data before the pass; the pass itself only reads `levels`).
 * All optional: absent is round 1's plain RTN.
 */
export interface ReconstructSettings {
  /** 'gptq' needs calibration data; default 'rtn'. */
  method?: QuantMethod;
  /** GPTQ dampening, a fraction of mean(diag H) (default 0.01). */
  damp?: number;
  /** GPTQ: columns in descending diag H order. */
  actOrder?: boolean;
  /** GPTQ lazy-batch block (columns, default 128). */
  gptqBlock?: number;
  /** RTN with the per-group clipping search on the layer's inputs (needs data). */
  clipSearch?: boolean;
  /** Shift each layer's bias by the mean output change (W − Ŵ)·E[x] (needs data). */
  biasCorrection?: boolean;
}

export interface QuantizeOptions extends ReconstructSettings {
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
  /**
   * Integer levels computed outside the pass (GPTQ, clip search: src/pipeline/reconstruct.ts),
   * per weight name, in the weight's own layout. The pass writes them in round 1's forms
   * where the layout and integer type are the ones it would use; otherwise it quantizes the
   * weight to nearest and warns.
   */
  levels?: ReadonlyMap<string, QuantizedWeight>;
}

/**
 * What one weight gets instead of the run's settings; fields left out keep the run's.
 * A recipe with several quantize steps (src/plan/apply.ts) sets every field a step can
 * set; the output check's back-off sets bits and granularity, or tfjsDtype.
 */
export interface WeightOverride extends ReconstructSettings {
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
    method: o.method ?? opts.method,
    damp: o.damp ?? opts.damp,
    actOrder: o.actOrder ?? opts.actOrder,
    gptqBlock: o.gptqBlock ?? opts.gptqBlock,
    clipSearch: o.clipSearch ?? opts.clipSearch,
    biasCorrection: o.biasCorrection ?? opts.biasCorrection,
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
  checkReconstructSettings(o);
  return o;
}

/** The reconstruction settings of a run or of one weight's override: one line per contradiction. */
export function checkReconstructSettings(o: ReconstructSettings & { mode?: QuantMode; granularity?: Granularity }): void {
  if (o.method !== undefined && !QUANT_METHODS.includes(o.method)) throw new UsageError(`--method must be rtn or gptq, got ${String(o.method)}`);
  if (o.damp !== undefined && !(Number.isFinite(o.damp) && o.damp >= 0)) throw new UsageError(`--damp must be a number ≥ 0, got ${String(o.damp)}`);
  if (o.gptqBlock !== undefined && !(Number.isInteger(o.gptqBlock) && o.gptqBlock >= 1)) throw new UsageError(`--gptq-block must be a positive integer, got ${String(o.gptqBlock)}`);
  const gptq = o.method === 'gptq';
  if (!gptq && (o.damp !== undefined || o.actOrder || o.gptqBlock !== undefined)) throw new UsageError('--damp, --act-order and --gptq-block are GPTQ settings: add --method gptq');
  if (gptq && o.clipSearch) throw new UsageError('--clip-search is a round-to-nearest method (it chooses the scales); GPTQ keeps round 1\'s scales: use one or the other');
  const reconstruct = gptq || o.clipSearch || o.biasCorrection;
  if (reconstruct && o.mode === 'dynamic') throw new UsageError('--method gptq, --clip-search and --bias-correction are weight-only (--mode weight); dynamic int8 quantizes weights to nearest');
  if ((gptq || o.clipSearch) && o.granularity === 'tensor') throw new UsageError('--method gptq and --clip-search need per-channel or block scales, not --granularity tensor');
}

/** Whether a run (or any weight's override) needs calibration data for reconstruction. */
export function needsReconstruction(o: QuantizeOptions): boolean {
  const any = (r: ReconstructSettings): boolean => r.method === 'gptq' || r.clipSearch === true || r.biasCorrection === true;
  return any(o) || [...(o.overrides?.values() ?? [])].some(any);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
