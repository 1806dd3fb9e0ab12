/**
 * `mc quantize`: int8 / int4 weight quantization of an ONNX or tfjs model.
 * Thin over the quantize pass: load → pass → (ONNX: onnxruntime self-check of
 * the encoded bytes) → atomic save → report sizes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { gzipSync } from 'fflate';
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { UsageError } from '../../errors';
import { detectFormat, loadModel, modelFiles, modelRoot, saveModel } from '../../formats';
import { encodeOnnx } from '../../formats/onnx';
import { saveTfjs } from '../../formats/tfjs';
import type { Model } from '../../ir';
import { quantizePass, QuantizeOptions, QuantizeReport, resolveQuantizeOptions, runPass } from '../../passes';
import { OrtRunner } from '../../runtime';
import { checkNotOverwritingInput } from '../../util/atomic';
import { VERSION } from '../../version';
import { formatBytes, formatShape } from '../format';
import { renderTable } from '../table';
import { parseStaticFlags, runStaticQuantize, StaticCliOptions } from './quantize-static';

/** Models up to this many bytes of weights are opened in onnxruntime before anything is written. */
export const VERIFY_LIMIT_BYTES = 100 * 1024 * 1024;

export interface QuantizeCliOptions {
  input: string;
  /** undefined: derived from the input name (model.onnx → model.int8.onnx, m/ → m-int8/). */
  output?: string;
  quantize: QuantizeOptions;
  /** True when --granularity was given (tfjs warns that it has only per-tensor). */
  granularityGiven: boolean;
  /** 'auto': ORT self-check for ONNX models under VERIFY_LIMIT_BYTES; 'off': --no-verify. */
  verify: 'auto' | 'off';
  force: boolean;
  json: boolean;
  /** Set with --calib / --mode static: static int8 QDQ instead (quantize-static.ts). */
  static?: StaticCliOptions;
}

export interface QuantizeFileResult {
  input: string;
  output: string;
  report: QuantizeReport;
  /** File bytes of the whole model, before and after. */
  sizeBefore: number;
  sizeAfter: number;
  /** gzip -6 bytes of the weight files (tfjs 4-bit, where only compression shrinks). */
  gzipBefore?: number;
  gzipAfter?: number;
  /** Whether onnxruntime opened the result before it was written. */
  verified: boolean;
  notes: string[];
}

export const quantizeCommand = defineCommand<QuantizeCliOptions>({
  name: 'quantize',
  configure: (cmd) => cmd
    .description('quantize weights to int8 or int4 (ONNX: DequantizeLinear / MatMulNBits / dynamic int8; tfjs: uint8/uint16/float16 storage)')
    .argument('<model>', 'input model (.onnx, model.json or its folder)')
    .option('-o, --output <path>', 'output (default: model.int8.onnx / model.int4.onnx, or folder m-int8/)')
    .option('--bits <n>', '8 or 4 (required unless --calib)')
    .option('--mode <mode>', 'weight (stored int, float compute) or dynamic (ONNX int8 MatMulInteger/ConvInteger)', 'weight')
    .option('--granularity <g>', 'tensor, channel or block (default: channel for 8 bits, block for 4; tfjs: always tensor)')
    .option('--block-size <n>', 'block length along the reduction axis', '32')
    .option('--symmetric', 'symmetric weights, zero point 0 (default)')
    .option('--asymmetric', 'asymmetric weights with a zero point')
    .option('--int4-format <f>', 'matmulnbits (com.microsoft, MatMul/Gemm) or qdq (DequantizeLinear opset 21)', 'matmulnbits')
    .option('--exclude <glob...>', 'weight or node names to keep in float (minimatch globs)')
    .option('--op-types <list>', 'only quantize weights of these ops, comma-separated (e.g. MatMul,Gemm)')
    .option('--tfjs-dtype <d>', 'tfjs storage: uint8, uint16, float16 or auto (default: auto for 8 bits, uint8 for 4)')
    .option('--min-elements <n>', 'leave weights with fewer elements in float', '1024')
    .option('--min-weight-sqnr <db>', 'tfjs auto: keep a tensor wider when uint8 would give a lower weight SQNR', '30')
    .option('--no-verify', 'skip opening the quantized ONNX model in onnxruntime before writing it')
    .option('--force', 'allow the output to replace the input')
    .option('--json', 'print the report as JSON on stdout')
    .option('--calib <data>', 'static int8: calibration data (.npy, .npz, image folder, ONNX test data); implies --mode static')
    .option('--calib-method <m>', 'static: minmax, percentile, entropy or mse', 'minmax')
    .option('--percentile <p>', 'static, percentile method: percentage of values kept', '99.999')
    .option('--calib-samples <n>', 'static: calibrate on at most n samples')
    .option('--batch-size <n>', 'static: samples per calibration run', '32')
    .option('--activation-type <t>', 'static: int8 or uint8 activations', 'int8')
    .option('--per-tensor', 'static: one weight scale per tensor instead of per channel')
    .option('--preprocess <spec>', 'static, image folders: e.g. size=28x28,layout=nchw,scale=1/255'),
  parse: ([input], flags) => parseQuantizeFlags(input, flags),
  run: async (o, ctx) => {
    if (o.static) return runStaticQuantize(o.static, ctx);
    const progress = ctx.progress(`quantizing ${o.input}`, { quiet: o.json });
    let result: QuantizeFileResult;
    try {
      result = await quantizeFile(o, (m) => progress.update(m));
      progress.stop();
    } catch (e) {
      progress.fail();
      throw e;
    }
    if (o.granularityGiven && result.report.format !== 'onnx' && o.quantize.granularity !== 'tensor') {
      result.notes.push(`tfjs stores one range per tensor; --granularity ${o.quantize.granularity} does not apply`);
    }
    ctx.io.stdout.write(o.json ? JSON.stringify(result, null, 2) + '\n' : renderHuman(result, ctx));
    return 0;
  },
});

function intFlag(v: unknown, flag: string): number {
  const s = String(v);
  if (!/^\d+$/.test(s)) throw new UsageError(`${flag} must be a whole number, got '${s}'`);
  return Number(s);
}

export function parseQuantizeFlags(input: string, flags: Readonly<Record<string, unknown>>): QuantizeCliOptions {
  if (flags.calib !== undefined || flags.mode === 'static') {
    const quantize = resolveQuantizeOptions({ bits: 8 });
    const output = flags.output === undefined ? defaultOutputPath(input, 8) : String(flags.output);
    const common = { input, output, quantize, granularityGiven: false, verify: 'auto' as const, force: flags.force === true, json: flags.json === true };
    return { ...common, static: parseStaticFlags(input, output, flags) };
  }
  if (flags.symmetric === true && flags.asymmetric === true) throw new UsageError('--symmetric and --asymmetric exclude each other');
  if (flags.bits === undefined) throw new UsageError("required option '--bits <n>' not specified");
  const bits = intFlag(flags.bits, '--bits');
  if (bits !== 8 && bits !== 4) throw new UsageError(`--bits must be 8 or 4, got ${bits}`);
  const sqnr = Number(flags.minWeightSqnr ?? 30);
  if (!Number.isFinite(sqnr)) throw new UsageError(`--min-weight-sqnr must be a number of dB, got '${String(flags.minWeightSqnr)}'`);
  const opTypes = flags.opTypes === undefined ? undefined : String(flags.opTypes).split(',').map((s) => s.trim()).filter(Boolean);
  if (opTypes && opTypes.length === 0) throw new UsageError('--op-types needs at least one op type');
  const quantize = resolveQuantizeOptions({
    bits,
    mode: flags.mode as QuantizeOptions['mode'] | undefined,
    granularity: flags.granularity as QuantizeOptions['granularity'] | undefined,
    blockSize: intFlag(flags.blockSize ?? '32', '--block-size'),
    symmetric: flags.asymmetric !== true,
    int4Format: flags.int4Format as QuantizeOptions['int4Format'] | undefined,
    exclude: Array.isArray(flags.exclude) ? flags.exclude.map(String) : [],
    opTypes,
    minElements: intFlag(flags.minElements ?? '1024', '--min-elements'),
    tfjsDtype: flags.tfjsDtype as QuantizeOptions['tfjsDtype'] | undefined,
    minWeightSqnrDb: sqnr,
  });
  return {
    input,
    output: flags.output === undefined ? undefined : String(flags.output),
    quantize,
    granularityGiven: flags.granularity !== undefined,
    verify: flags.verify === false ? 'off' : 'auto',
    force: flags.force === true,
    json: flags.json === true,
  };
}

/** model.onnx → model.int8.onnx; m/ or m/model.json → m-int8 (a sibling folder). */
export function defaultOutputPath(input: string, bits: 8 | 4): string {
  const tag = `int${bits}`;
  if (detectFormat(input) === 'onnx') {
    const ext = path.extname(input);
    return path.join(path.dirname(input), `${path.basename(input, ext)}.${tag}${ext}`);
  }
  const dir = modelRoot(input).replace(/[\\/]+$/, '');
  return `${dir}-${tag}`;
}

/** Quantizes the model at `o.input` and writes it; nothing is written when any step fails. */
export async function quantizeFile(o: QuantizeCliOptions, progress: (m: string) => void = () => {}): Promise<QuantizeFileResult> {
  const format = detectFormat(o.input);
  const output = o.output ?? defaultOutputPath(o.input, o.quantize.bits);
  checkNotOverwritingInput(modelRoot(o.input), modelRoot(output), o.force);
  progress('loading');
  const model = loadModel(o.input);
  // Pass the loaded model so the file is not decoded a second time (peak memory).
  const inputFiles = modelFiles(o.input, model);
  const sizeBefore = sumSizes(inputFiles);
  const gzipBefore = format === 'tfjs' && o.quantize.bits === 4 ? gzipSize(inputFiles.slice(1)) : undefined;
  const hadExternal = format === 'onnx' && inputFiles.length > 1;
  const { changes: report } = runPass(quantizePass(o.quantize), model, { toolVersion: VERSION, progress });
  const notes: string[] = [];
  let verified = false;
  if (format === 'onnx') {
    if (o.verify === 'auto' && weightBytes(model) <= VERIFY_LIMIT_BYTES) {
      progress('checking the result in onnxruntime');
      await verifyInOrt(model, output);
      verified = true;
    } else if (o.verify === 'auto') {
      notes.push(`not opened in onnxruntime before writing (weights over ${formatBytes(VERIFY_LIMIT_BYTES)})`);
    }
    progress(`writing ${output}`);
    // A fresh data-file name, so the input's external data file is never the target.
    saveModel(model, output, hadExternal ? { externalData: { location: `${path.basename(output)}.data` } } : {});
  } else {
    progress(`writing ${output}`);
    saveTfjsAtomically(model, output, o.force);
  }
  const outputFiles = modelFiles(output, format === 'onnx' ? model : undefined);
  const sizeAfter = sumSizes(outputFiles);
  let gzipAfter: number | undefined;
  if (gzipBefore !== undefined) {
    gzipAfter = gzipSize(outputFiles.slice(1));
    notes.push('tfjs has no 4-bit storage: the 16 levels sit in uint8 bytes, so the files are no smaller than with --bits 8; only the gzip-compressed size shrinks further');
  }
  return { input: o.input, output, report, sizeBefore, sizeAfter, gzipBefore, gzipAfter, verified, notes };
}

async function verifyInOrt(model: Model, output: string): Promise<void> {
  const bytes = encodeOnnx(model);
  try {
    const r = await OrtRunner.create(bytes, { label: output });
    await r.dispose();
  } catch (e) {
    // mc built a model the stock runtime rejects: that is mc's bug, not the user's input.
    throw new Error(`the quantized model failed onnxruntime's load check, nothing was written: ${(e as Error).message}`);
  }
}

/** tfjs: write into a temp sibling folder, then move it into place, so `output` is never half written. */
function saveTfjsAtomically(model: Model, output: string, force: boolean): void {
  const dir = path.extname(output).toLowerCase() === '.json' ? path.dirname(output) : output;
  const tmp = path.join(path.dirname(path.resolve(dir)), `.${path.basename(dir)}.${process.pid}.tmp`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    saveTfjs(model, tmp);
    if (fs.existsSync(dir)) {
      const entries = fs.readdirSync(dir);
      if (entries.length && !fs.existsSync(path.join(dir, 'model.json')) && !force) {
        throw new UsageError(`output folder ${dir} exists and is not a tfjs model; pass --force or choose another -o`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    fs.renameSync(tmp, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function weightBytes(model: Model): number {
  let n = 0;
  for (const v of model.weights()) n += v.const?.byteLength ?? 0;
  return n;
}

function sumSizes(files: string[]): number {
  return files.reduce((s, f) => s + fs.statSync(f).size, 0);
}

function gzipSize(files: string[]): number {
  return files.reduce((s, f) => s + gzipSync(fs.readFileSync(f), { level: 6 }).byteLength, 0);
}

function renderHuman(r: QuantizeFileResult, ctx: CliContext): string {
  const c = ctx.chalk;
  const rep = r.report;
  const rows = rep.tensors.map((t) => [
    t.name, formatShape(t.shape), t.ops.join(','), t.form, String(t.bits),
    t.sqnrDb === null ? 'exact' : colourSqnr(t.sqnrDb, ctx), formatBytes(t.bytesBefore), formatBytes(t.bytesAfter),
  ]);
  let s = renderTable(
    [{ header: 'tensor' }, { header: 'shape' }, { header: 'ops' }, { header: 'form' }, { header: 'bits', align: 'right' },
      { header: 'SQNR dB', align: 'right' }, { header: 'before', align: 'right' }, { header: 'after', align: 'right' }],
    rows,
    { styleHeader: (h) => c.bold(h) },
  );
  const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(3)}×` : '-');
  s += `${c.bold('quantized')} ${rep.tensors.length} tensor(s): ${formatBytes(rep.weightBytesBefore)} → ${formatBytes(rep.weightBytesAfter)} (${ratio(rep.weightBytesAfter, rep.weightBytesBefore)})`;
  s += rep.skipped.length ? `; ${rep.skipped.length} left in float (${summarizeSkips(rep)})\n` : '\n';
  s += `${c.bold('model')} ${formatBytes(r.sizeBefore)} → ${formatBytes(r.sizeAfter)} (${ratio(r.sizeAfter, r.sizeBefore)})`;
  if (r.gzipBefore !== undefined && r.gzipAfter !== undefined) s += `; gzip ${formatBytes(r.gzipBefore)} → ${formatBytes(r.gzipAfter)} (${ratio(r.gzipAfter, r.gzipBefore)})`;
  s += '\n';
  if (rep.opsetBefore !== undefined && rep.opsetAfter !== rep.opsetBefore) s += `${c.bold('opset')} ${rep.opsetBefore} → ${rep.opsetAfter}\n`;
  for (const w of rep.warnings) s += `${c.yellow('warning')} ${w}\n`;
  for (const n of r.notes) s += `${c.yellow('note')} ${n}\n`;
  s += `${c.green('wrote')} ${r.output}${r.verified ? ' (opened in onnxruntime)' : ''}\n`;
  return s;
}

function colourSqnr(db: number, ctx: CliContext): string {
  const t = db.toFixed(1);
  return db < 20 ? ctx.chalk.red(t) : db < 30 ? ctx.chalk.yellow(t) : t;
}

function summarizeSkips(rep: QuantizeReport): string {
  const counts = new Map<string, number>();
  for (const s of rep.skipped) {
    const key = s.reason.replace(/^\d+ elements/, 'small');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}
