/**
 * `mc convert`: re-save a model, optionally changing its dtype with the names
 * transformers.js gives its model files:
 *   fp32   re-save as is (formats/convertModel keeps the model's bytes);
 *   fp16   float32 weights and compute → float16 (passes/float16);
 *   q4f16  fp16, then the MatMul/Gemm weights → int4 com.microsoft
 *          MatMulNBits (block 32, symmetric) with float16 scales.
 * The converting paths load, run the passes, open the result in onnxruntime,
 * and only then write it. q4f16 is the same as `mc convert --dtype fp16`
 * followed by `mc quantize --bits 4 --op-types MatMul,Gemm`.
 */
import { GateError, UnsupportedError, UsageError } from '../errors';
import { ConvertOptions, ConvertResult, convertModel, detectFormat, loadModel, modelFiles, savedResult, saveModel } from '../formats';
import { convertFloat16Pass, Float16Options, Float16Report } from '../passes/float16';
import { quantizePass, QuantizeReport, resolveQuantizeOptions, runPass } from '../passes';
import { checkNotOverwritingInput } from '../util/atomic';
import { liftNotes, liftWeights } from './quantize';
import { modelRoot } from '../formats';
import { VERSION } from '../version';
import { openBeforeWriting } from './output';
import { compareOutputs, type OutputComparison } from './verify-outputs';

export type ConvertDType = 'fp32' | 'fp16' | 'q4f16';

/** q4f16's weight quantization: transformers.js quantizes the MatMul weights of its q4f16 files to 4 bits, block 32. */
export const Q4F16_QUANTIZE = resolveQuantizeOptions({ bits: 4, opTypes: ['MatMul', 'Gemm'] });

export interface ConvertFileOptions extends ConvertOptions {
  /** 'fp32' (default): re-save as is. 'fp16': float32 → float16 weights and compute (ONNX only). */
  dtype?: ConvertDType;
  float16?: Float16Options;
  /** Open a float16 result in onnxruntime before writing (default true). */
  verify?: boolean;
  /**
   * fp16 with float32 inputs kept (--keep-io-types): run source and result on these inputs (or seeded
   * synthetic ones) and refuse the result when an output falls under `minOutputSqnrDb` (default 40 dB)
   * or turns NaN. false: no check.
   */
  outputCheck?: { data?: string; minOutputSqnrDb?: number } | false;
  progress?: (message: string) => void;
}

export interface ConvertFileResult extends ConvertResult {
  dtype: ConvertDType;
  float16?: Float16Report;
  /** q4f16: the int4 weight quantization after the float16 conversion. */
  quantize?: QuantizeReport;
  /** Whether onnxruntime opened the result before it was written (float16 only). */
  verified: boolean;
  notes: string[];
  /** fp16 with --keep-io-types: the result's outputs against the source's. */
  outputs?: OutputComparison;
}

/** float16 keeps about 11 bits of mantissa (≈ 66 dB per value); 40 dB leaves room for rounding that compounds, not for overflow. */
export const FP16_MIN_OUTPUT_SQNR_DB = 40;

export async function convertFile(o: ConvertFileOptions): Promise<ConvertFileResult> {
  const dtype = o.dtype ?? 'fp32';
  if (dtype === 'fp32') return { ...convertModel(o), dtype, verified: false, notes: [] };
  if (detectFormat(o.input) !== 'onnx') throw new UsageError(`--dtype ${dtype} converts ONNX models (tfjs: mc quantize --tfjs-dtype float16)`);
  if (!o.output.endsWith('.onnx')) throw new UsageError(`--dtype ${dtype} writes an ONNX model; the output '${o.output}' must end in .onnx`);
  checkNotOverwritingInput(modelRoot(o.input), modelRoot(o.output), o.force === true);
  const progress = o.progress ?? (() => {});
  const inputFiles = modelFiles(o.input);
  progress('loading');
  const model = loadModel(o.input);
  progress('converting to float16');
  const { changes: report, modified } = runPass(convertFloat16Pass(o.float16 ?? { keepIoTypes: false, blockOps: [], blockNodes: [] }), model, { toolVersion: VERSION, progress });
  if (!modified) throw new UnsupportedError(`${o.input} has no float32 weights or compute to convert; nothing was written`);
  const notes: string[] = [];
  let quantize: QuantizeReport | undefined;
  if (dtype === 'q4f16') {
    // MatMul weights kept as Constant nodes (paddle2onnx) become initializers first, as mc quantize does.
    notes.push(...liftNotes(liftWeights(model, progress)));
    progress('quantizing MatMul weights to int4');
    quantize = runPass(quantizePass(Q4F16_QUANTIZE), model, { toolVersion: VERSION, progress }).changes;
    if (quantize.tensors.length === 0) {
      throw new UnsupportedError(`${o.input}: q4f16 found no MatMul/Gemm weight to quantize (${quantize.skipped.length} skipped); nothing was written (--dtype fp16 writes the float16 model)`);
    }
  }
  const verified = o.verify !== false ? await openBeforeWriting(model, o.output, notes, progress) : false;
  let outputs: OutputComparison | undefined;
  if (o.outputCheck !== false && dtype === 'fp16' && o.float16?.keepIoTypes === true) {
    progress('comparing the outputs with the source model');
    const bound = o.outputCheck?.minOutputSqnrDb ?? FP16_MIN_OUTPUT_SQNR_DB;
    outputs = await compareOutputs(loadModel(o.input), model, { data: o.outputCheck?.data });
    if (outputs.unchecked) notes.push(`outputs not compared with the source: ${outputs.unchecked}`);
    const low = outputs.rows.filter((r) => r.sqnrDb !== null && !(r.sqnrDb >= bound));
    if (low.length) {
      const what = low.map((r) => `${r.name} ${Number.isNaN(r.sqnrDb) || r.sqnrDb === -Infinity ? 'NaN or infinite' : `${r.sqnrDb!.toFixed(1)} dB`}`).join(', ');
      throw new GateError(`${o.input}: float16 outputs miss ${bound} dB against the source in ${outputs.runtime} on ${outputs.inputs.description}: ${what} (values beyond float16's range, or constants it flushes to 0? keep those ops float32 with --fp16-block-ops, or pass --no-output-check); nothing written`);
    }
  } else if (o.outputCheck !== false && dtype === 'fp16') {
    notes.push('outputs not compared with the source: its inputs are now float16 (--keep-io-types keeps them float32 and enables the check)');
  }
  if (report.flushedToZero > 0) notes.push(`${report.flushedToZero} nonzero weight value(s) are below float16's smallest subnormal and became 0`);
  progress(`writing ${o.output}`);
  const written = saveModel(model, o.output, { externalData: o.externalData, force: o.force });
  return {
    ...savedResult(o.input, o.output, model.format, inputFiles, written),
    dtype,
    float16: report,
    quantize,
    verified,
    notes,
    outputs,
  };
}
