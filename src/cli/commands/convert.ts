/**
 * `mc convert`: re-save a model (ONNX → ONNX, tfjs → tfjs), optionally with
 * its float32 weights and compute converted to float16 (`--dtype fp16`).
 */
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { UsageError } from '../../errors';
import { convertFile, ConvertDType, ConvertFileResult } from '../../pipeline/convert';
import { commaList, finiteNumber } from '../flags';
import { formatBytes } from '../format';

/** Tensors of at least this many bytes go to the external data file when --external-data has no value. */
export const DEFAULT_EXTERNAL_DATA_THRESHOLD = 1024;

export interface ConvertCliOptions {
  input: string;
  output: string;
  /** false: everything inside the .onnx; otherwise the size threshold in bytes. */
  externalData: false | { threshold: number };
  force: boolean;
  json: boolean;
  dtype: ConvertDType;
  /** fp16: keep the model's float32 inputs and outputs float32. */
  keepIoTypes: boolean;
  /** fp16: op types kept in float32 besides the default block list. */
  blockOps: string[];
  /** fp16: node names kept in float32. */
  blockNodes: string[];
  /** fp16 with --keep-io-types: the output comparison with the source (false: --no-output-check). */
  outputCheck: { data?: string; minOutputSqnrDb?: number } | false;
}

export const convertCommand = defineCommand<ConvertCliOptions>({
  name: 'convert',
  configure: (cmd) => cmd
    .description('re-save a model through mc (ONNX → ONNX, tfjs → tfjs), e.g. to move weights to external data')
    .argument('<in>', 'input model (.onnx, model.json or its folder)')
    .requiredOption('-o, --output <path>', 'output .onnx file, or output folder for tfjs')
    .option('--external-data [threshold]', `ONNX: store tensors of at least <threshold> bytes (default ${DEFAULT_EXTERNAL_DATA_THRESHOLD}) in <output>.data`)
    .option('--dtype <d>', 'fp32 (re-save as is), fp16 (ONNX: float32 weights and compute to float16), or q4f16 (fp16 plus int4 MatMulNBits MatMul/Gemm weights)', 'fp32')
    .option('--keep-io-types', 'fp16: keep float32 model inputs and outputs (Casts inside the model)')
    .option('--fp16-block-ops <list>', 'fp16: op types to keep in float32, comma-separated, besides the defaults (Range, Resize, TopK, Min, Max, ...)')
    .option('--fp16-block-nodes <list>', 'fp16: node names to keep in float32, comma-separated')
    .option('--eval-data <x>', 'fp16 with --keep-io-types: compare the outputs with the source on these inputs (default: seeded synthetic inputs)')
    .option('--min-output-sqnr <db>', 'fp16 with --keep-io-types: refuse the result (exit 1) when an output falls under this SQNR or turns NaN (default 40)')
    .option('--no-output-check', 'fp16: do not compare the outputs with the source')
    .option('--force', 'allow the output to replace the input')
    .option('--json', 'print the result as JSON on stdout'),
  parse: ([input], flags) => parseConvertFlags(input, flags),
  run: async (o, ctx) => {
    const result = await convertFile({
      input: o.input, output: o.output, externalData: o.externalData, force: o.force, dtype: o.dtype,
      float16: { keepIoTypes: o.keepIoTypes, blockOps: o.blockOps, blockNodes: o.blockNodes }, outputCheck: o.outputCheck,
    });
    if (o.json) ctx.io.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else ctx.io.stdout.write(renderHuman(result, ctx));
    return 0;
  },
});

export function parseConvertFlags(input: string, flags: Readonly<Record<string, unknown>>): ConvertCliOptions {
  const dtype = String(flags.dtype ?? 'fp32');
  if (dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'q4f16') throw new UsageError(`--dtype must be fp32, fp16 or q4f16, got '${dtype}'`);
  const fp16Only = ['keepIoTypes', 'fp16BlockOps', 'fp16BlockNodes', 'evalData', 'minOutputSqnr'].filter((k) => flags[k] !== undefined);
  if (dtype === 'fp32' && fp16Only.length) throw new UsageError('--keep-io-types, --fp16-block-ops, --fp16-block-nodes, --eval-data and --min-output-sqnr need --dtype fp16 or q4f16');
  return {
    input,
    output: String(flags.output),
    externalData: parseExternalData(flags.externalData),
    force: flags.force === true,
    json: flags.json === true,
    dtype,
    keepIoTypes: flags.keepIoTypes === true,
    blockOps: commaList(flags.fp16BlockOps) ?? [],
    blockNodes: commaList(flags.fp16BlockNodes) ?? [],
    outputCheck: flags.outputCheck === false ? false : {
      ...(flags.evalData !== undefined ? { data: String(flags.evalData) } : {}),
      ...(flags.minOutputSqnr !== undefined ? { minOutputSqnrDb: finiteNumber(flags.minOutputSqnr, '--min-output-sqnr') } : {}),
    },
  };
}

function renderHuman(r: ConvertFileResult, ctx: CliContext): string {
  const c = ctx.chalk;
  let s = '';
  const f = r.float16;
  if (f) {
    s += `${c.bold('float16')} ${f.nodesConverted} node(s) in float16; ${f.constantsConverted} constant(s) ${formatBytes(f.constantBytesBefore)} → ${formatBytes(f.constantBytesAfter)}; ${f.castsInserted} Cast(s) inserted${f.keepIoTypes ? '; inputs and outputs kept float32' : ''}\n`;
    for (const k of f.kept) s += `  kept in float32: ${k.nodes} ${k.opType} (${k.reason})\n`;
    if (f.constantsKeptFloat32) s += `  ${f.constantsKeptFloat32} small constant(s) read only in float32 kept float32\n`;
  }
  const q = r.quantize;
  if (q) {
    const forms = [...new Set(q.tensors.map((t) => t.form))].join(', ');
    s += `${c.bold('int4')} ${q.tensors.length} weight(s) ${formatBytes(q.weightBytesBefore)} → ${formatBytes(q.weightBytesAfter)} (${forms}); ${q.skipped.length} left in float16\n`;
  }
  if (r.outputs && !r.outputs.unchecked) {
    const rows = r.outputs.rows.map((x) => `${x.name} ${x.sqnrDb === null ? 'exact' : `${x.sqnrDb.toFixed(1)} dB`}`).join(', ');
    s += `${c.bold('outputs')} against the source in ${r.outputs.runtime} on ${r.outputs.inputs.description}: ${rows}\n`;
  }
  for (const n of r.notes) s += `${c.yellow('note')} ${n}\n`;
  const n = r.files.length;
  const ratio = r.inputBytes > 0 ? ` (${(r.totalBytes / r.inputBytes).toFixed(3)}×)` : '';
  s += `${c.green('wrote')} ${r.output} (${n} ${n === 1 ? 'file' : 'files'}, ${formatBytes(r.totalBytes)}; input ${formatBytes(r.inputBytes)}${f ? ratio : ''})${r.verified ? ' (opened in onnxruntime)' : ''}\n`;
  return s;
}

function parseExternalData(v: unknown): ConvertCliOptions['externalData'] {
  if (v === undefined || v === false) return false;
  if (v === true) return { threshold: DEFAULT_EXTERNAL_DATA_THRESHOLD };
  const s = String(v);
  if (!/^\d+$/.test(s)) throw new UsageError(`--external-data threshold must be a whole number of bytes, got '${s}'`);
  return { threshold: Number(s) };
}
