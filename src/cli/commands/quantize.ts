/**
 * `mc quantize`: int8 / int4 weight quantization of an ONNX or tfjs model.
 * Thin over the quantize pass: load → pass → (ONNX: onnxruntime self-check of
 * the encoded bytes) → atomic save → report sizes.
 */
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { UsageError } from '../../errors';
import { resolveQuantizeOptions, QuantizeOptions, QuantizeReport } from '../../passes';
import type { QuantizeFileResult } from '../../pipeline/quantize';
import type { ReconstructReport } from '../../pipeline/reconstruct';
import { skipLabel } from '../../passes/quantize/select';
import type { OutputCheckOptions, OutputCheckReport } from '../../pipeline/verify-outputs';
import { defaultOutputPath } from '../../pipeline/output';
import { addEvalGateOptions, EvalGate, evalGateFromFlags, runRewriteWithGate } from '../eval-gate';
import type { EvalReport } from '../../eval';
import { commaList, optionalString, stringList, wholeNumber } from '../flags';
import { formatBytes, formatShape } from '../format';
import { renderTable } from '../table';
import { parseStaticFlags, renderHuman as renderStaticHuman, StaticCliOptions, StaticCliResult } from './quantize-static';
import { applyPlanToFile, commandLinePlan, type ApplyFileResult, type Plan, type QuantizeStep, type StaticStep } from '../../plan';
import { writeRecipe } from '../recipe-out';
import type { BackupBits } from '../../passes/quantize/backup';

export interface QuantizeCliOptions {
  input: string;
  /** undefined: derived from the input name (model.onnx → model.int8.onnx, m/ → m-int8/). */
  output?: string;
  quantize: QuantizeOptions;
  /** True when --granularity was given (tfjs warns that it has only per-tensor). */
  granularityGiven: boolean;
  /** ORT self-check of ONNX results (under VERIFY_LIMIT_BYTES of weights); false with --no-verify. */
  verify: boolean;
  force: boolean;
  /** --allow-partial: a run that quantized less than asked warns instead of failing. */
  allowPartial: boolean;
  json: boolean;
  /** Set with --calib / --mode static: static int8 QDQ instead (quantize-static.ts). */
  static?: StaticCliOptions;
  /** With --eval-data: evaluate the output against the input and gate on the budget flags. */
  gate?: EvalGate;
  /** The output check and back-off (pipeline/verify-outputs.ts); false with --no-output-check. */
  outputCheck?: OutputCheckOptions | false;
  /** The flags as a plan (src/plan): what runs, and what --recipe-out writes. */
  plan: Plan;
  /** --recipe-out: write the plan as a recipe file. */
  recipeOut?: string;
}

/** What `--json` prints: the quantize result, plus the eval report when --eval-data was given. */
export interface QuantizeCliResult extends QuantizeFileResult {
  eval?: EvalReport;
  /** The canonical recipe's hash (recorded in the output's metadata), and the file --recipe-out wrote. */
  recipe: RecipeSummary;
}

export interface RecipeSummary {
  sha256: string;
  file?: string;
}

export const quantizeCommand = defineCommand<QuantizeCliOptions>({
  name: 'quantize',
  configure: (cmd) => addEvalGateOptions(cmd
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
    .option('--backup-bits <b>', '8, 16 or none: with --bits 4, the embedding table(s) and the last layer (the op producing a graph output) stay int8 (8, default), float (16; tfjs float16) or go to int4 too (none)', '8')
    .option('--exclude <glob...>', 'weight or node names to keep in float (minimatch globs)')
    .option('--op-types <list>', 'only quantize weights of these ops, comma-separated (e.g. MatMul,Gemm)')
    .option('--tfjs-dtype <d>', 'tfjs storage: uint8, uint16, float16 or auto (default: auto for 8 bits, uint8 for 4)')
    .option('--min-elements <n>', 'leave weights with fewer elements in float (default 0: every weight whose quantized form is smaller)', '0')
    .option('--min-weight-sqnr <db>', 'tfjs auto: keep a tensor wider when uint8 would give a lower weight SQNR', '30')
    .option('--no-verify', 'skip opening the quantized ONNX model in onnxruntime before writing it')
    .option('--min-output-sqnr <db>', 'run the result in the stock runtime on --eval-data (else seeded synthetic inputs) and back off the most damaging weights until every output reaches this SQNR (default 30 for --bits 8; measured only for --bits 4)')
    .option('--no-output-check', 'skip running the result against the float model (no back-off)')
    .option('--force', 'allow the output to replace the input')
    .option('--allow-partial', 'write the output even when weights mc could not take hold more than 10% of the weight bytes, or nothing was quantized (default: exit 2 and write nothing)')
    .option('--json', 'print the report as JSON on stdout')
    .option('--calib <data>', 'calibration data (.npy, .npz, image folder, ONNX test data): static int8 (implies --mode static), or with --method gptq / --clip-search / --bias-correction the layer inputs of weight-only reconstruction')
    .option('--method <m>', 'how weight levels are chosen: rtn (round to nearest, default) or gptq (GPTQ on each layer\'s inputs from --calib; weight-only)')
    .option('--damp <f>', 'GPTQ: dampening, a fraction of mean(diag H) (default 0.01)')
    .option('--act-order', 'GPTQ: quantize columns in descending diag H order')
    .option('--gptq-block <n>', 'GPTQ: lazy-batch block in columns (default 128)')
    .option('--clip-search', 'round to nearest with a per-group clipping search on each layer\'s inputs from --calib (20 shrink factors down to 0.5)')
    .option('--bias-correction', 'shift each layer\'s bias by its mean output change over --calib ((W − Ŵ)·E[x] per output channel)')
    .option('--calib-method <m>', 'static: minmax, percentile, entropy or mse', 'minmax')
    .option('--percentile <p>', 'static, percentile method: percentage of values kept', '99.999')
    .option('--calib-samples <n>', 'static: calibrate on at most n samples')
    .option('--batch-size <n>', 'static: samples per calibration run', '32')
    .option('--activation-type <t>', 'static: int8 or uint8 activations', 'int8')
    .option('--per-tensor', 'static: one weight scale per tensor instead of per channel')
    .option('--no-space-to-depth', 'static: leave a first-layer Conv → MaxPool(2×2) as it is (no SpaceToDepth → Conv → Split → Max rewrite; int8 activations stay int8)')
    .option('--space-to-depth <mode>', 'static: the first-layer SpaceToDepth rewrite where the target allows it: measure (default: where timing this model shows it pays), on, off')
    .option('--small-layers <choice>', 'static: MatMul/Gemm layers left float because int8 would not pay: measure (default: time each layer in both forms), int8 (none), or a comma list of node names (the pinned decision the report prints)')
    .option('--calib-cache <file>', 'static: read calibration statistics from this file when it was written for the same model, data and settings; otherwise calibrate and write it')
    .option('--target <cpu>', 'static and dynamic int8: the CPU the int8 forms are chosen for: portable (exact on every CPU), avx512-vnni, avx2 or arm64', 'portable')
    .option('--preprocess <spec>', 'static, image folders: e.g. size=28x28,layout=nchw,scale=1/255')
    .option('--recipe-out <file>', 'also write these flags as a recipe (YAML) that `mc apply` turns into the same model')
    .addHelpText('after', '\nWith --eval-data the output is evaluated against the input (as `mc eval --baseline`);\nthe exit code is 1 when a budget flag is broken.'), 'labels'),
  parse: ([input], flags) => parseQuantizeFlags(input, flags),
  run: (o, ctx) => {
    if (o.static) {
      const st = o.static;
      return runRewriteWithGate(
        ctx, { title: `quantizing ${o.input} (static int8, ${st.options.calibrationMethod} calibration)`, input: o.input, json: o.json, gate: o.plan.eval },
        async (progress): Promise<StaticCliResult & { recipe: RecipeSummary }> => {
          const r = await runPlan(o, progress);
          const step = r.results[0];
          if (step.kind !== 'static') throw new Error('a static plan gave no static result');
          return { input: r.input, output: r.output, report: step.report, size: r.size, verified: r.verified, notes: r.notes, recipe: recipeSummary(r, o.recipeOut) };
        },
        (r) => renderStaticHuman(r, st.options, ctx),
      );
    }
    return runRewriteWithGate(
      ctx, { title: `quantizing ${o.input}`, input: o.input, json: o.json, gate: o.plan.eval },
      async (progress): Promise<QuantizeCliResult> => {
        const r = await runPlan(o, progress);
        const step = r.results[0];
        if (step.kind !== 'quantize') throw new Error('a quantize plan gave no quantize result');
        const out: QuantizeCliResult = {
          input: r.input, output: r.output, report: step.report, size: r.size, verified: r.verified, notes: r.notes, lifted: r.lifted,
          outputCheck: step.outputCheck, recipe: recipeSummary(r, o.recipeOut), reconstruct: step.reconstruct,
        };
        if (o.granularityGiven && out.report.format !== 'onnx' && o.quantize.granularity !== 'tensor') {
          out.notes.push(`tfjs stores one range per tensor; --granularity ${o.quantize.granularity} does not apply`);
        }
        return out;
      },
      (r) => renderHuman(r, ctx),
    );
  },
});

/** Applies the plan, then writes --recipe-out: the plan as carried out (measured decisions pinned). */
async function runPlan(o: QuantizeCliOptions, progress: (message: string) => void): Promise<ApplyFileResult> {
  const r = await applyPlanToFile({ input: o.input, output: o.output ?? defaultOutputPath(o.input, `int${o.quantize.bits}`), plan: o.plan, force: o.force, progress });
  if (o.recipeOut !== undefined) writeRecipe(r.plan, o.recipeOut, 'mc quantize');
  return r;
}

export function recipeSummary(r: ApplyFileResult, file: string | undefined): RecipeSummary {
  return file === undefined ? { sha256: r.recipe.sha256 } : { sha256: r.recipe.sha256, file };
}

export function parseQuantizeFlags(input: string, flags: Readonly<Record<string, unknown>>): QuantizeCliOptions {
  // --bias-correction with --mode static is the static step's (pipeline/static-bias-correction.ts)
  const reconstructs = flags.method === 'gptq' || flags.clipSearch === true || (flags.biasCorrection === true && flags.mode !== 'static');
  if (reconstructs && flags.mode === 'static') throw new UsageError('--method gptq and --clip-search are weight-only: drop --mode static (--calib then feeds them)');
  if (!reconstructs && (flags.damp !== undefined || flags.actOrder === true || flags.gptqBlock !== undefined) && flags.calib !== undefined) {
    throw new UsageError('--damp, --act-order and --gptq-block are GPTQ settings: add --method gptq');
  }
  if ((flags.calib !== undefined && !reconstructs) || flags.mode === 'static') {
    const quantize = resolveQuantizeOptions({ bits: 8 });
    const output = flags.output === undefined ? defaultOutputPath(input, 'int8') : String(flags.output);
    const common = { input, output, quantize, granularityGiven: false, verify: true, force: flags.force === true, allowPartial: flags.allowPartial === true, json: flags.json === true };
    const st = parseStaticFlags(input, output, flags);
    const gate = evalGateFromFlags(flags, 'labels');
    const recipeOut = optionalString(flags.recipeOut);
    const step: StaticStep = {
      kind: 'static', select: { exclude: [...st.options.exclude], allowEmpty: false },
      options: { ...st.options, exclude: [], ...(flags.biasCorrection === true ? { biasCorrection: true } : {}) },
      calib: st.calib, calibCache: optionalString(flags.calibCache), preprocess: optionalString(flags.preprocess), allowPartial: st.allowPartial,
    };
    return { ...common, static: st, gate, recipeOut, plan: commandLinePlan(step, { model: input, eval: gate, recipeOut }) };
  }
  if (flags.symmetric === true && flags.asymmetric === true) throw new UsageError('--symmetric and --asymmetric exclude each other');
  if (flags.bits === undefined) throw new UsageError("required option '--bits <n>' not specified");
  const bits = wholeNumber(flags.bits, '--bits');
  if (bits !== 8 && bits !== 4) throw new UsageError(`--bits must be 8 or 4, got ${bits}`);
  const sqnr = Number(flags.minWeightSqnr ?? 30);
  if (!Number.isFinite(sqnr)) throw new UsageError(`--min-weight-sqnr must be a number of dB, got '${String(flags.minWeightSqnr)}'`);
  const opTypes = commaList(flags.opTypes);
  if (opTypes && opTypes.length === 0) throw new UsageError('--op-types needs at least one op type');
  const quantize = resolveQuantizeOptions({
    bits,
    mode: flags.mode as QuantizeOptions['mode'] | undefined,
    granularity: flags.granularity as QuantizeOptions['granularity'] | undefined,
    blockSize: wholeNumber(flags.blockSize ?? '32', '--block-size'),
    symmetric: flags.asymmetric !== true,
    int4Format: flags.int4Format as QuantizeOptions['int4Format'] | undefined,
    exclude: stringList(flags.exclude),
    opTypes,
    minElements: wholeNumber(flags.minElements ?? '0', '--min-elements'),
    tfjsDtype: flags.tfjsDtype as QuantizeOptions['tfjsDtype'] | undefined,
    minWeightSqnrDb: sqnr,
    target: flags.target as QuantizeOptions['target'] | undefined,
    method: flags.method as QuantizeOptions['method'],
    damp: flags.damp === undefined ? undefined : finiteNumber(flags.damp, '--damp'),
    actOrder: flags.actOrder === true ? true : undefined,
    gptqBlock: flags.gptqBlock === undefined ? undefined : wholeNumber(flags.gptqBlock, '--gptq-block'),
    clipSearch: flags.clipSearch === true ? true : undefined,
    biasCorrection: flags.biasCorrection === true ? true : undefined,
  });
  if (reconstructs && flags.calib === undefined) throw new UsageError('--method gptq, --clip-search and --bias-correction need calibration data: --calib FILE (inputs of the model)');
  const gate = evalGateFromFlags(flags, 'labels');
  const outputCheck = outputCheckFromFlags(flags, gate);
  const recipeOut = optionalString(flags.recipeOut);
  const step: QuantizeStep = {
    kind: 'quantize', select: { exclude: [...quantize.exclude], allowEmpty: false }, options: { ...quantize, exclude: [] }, backupBits: parseBackupBits(flags.backupBits),
    minOutputSqnrDb: outputCheck === false ? undefined : outputCheck.minOutputSqnrDb, outputCheck: outputCheck !== false,
    verify: flags.verify !== false, allowPartial: flags.allowPartial === true,
  };
  if (reconstructs) {
    step.calib = String(flags.calib);
    if (flags.calibSamples !== undefined) step.calibSamples = wholeNumber(flags.calibSamples, '--calib-samples');
    step.batchSize = wholeNumber(flags.batchSize ?? '32', '--batch-size');
  }
  return {
    input,
    output: flags.output === undefined ? undefined : String(flags.output),
    quantize,
    granularityGiven: flags.granularity !== undefined,
    verify: flags.verify !== false,
    outputCheck,
    force: flags.force === true,
    allowPartial: flags.allowPartial === true,
    json: flags.json === true,
    gate,
    recipeOut,
    plan: commandLinePlan(step, { model: input, eval: gate, recipeOut }),
  };
}

function finiteNumber(v: unknown, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got '${String(v)}'`);
  return n;
}

/** GPTQ / clip search / bias correction: per layer what was done, the passes over the data, what fell back and why. */
function renderReconstruct(r: ReconstructReport, ctx: CliContext): string {
  const c = ctx.chalk;
  let s = `${c.bold('reconstruction')} ${r.layers.length} layer(s) on ${r.samples} sample(s), ${r.passes} pass(es) over the data (${r.seconds.collect.toFixed(1)} s collecting, ${r.seconds.reconstruct.toFixed(1)} s solving)\n`;
  for (const l of r.layers) {
    const bias = l.bias === undefined ? '' : 'name' in l.bias ? `, bias corrected (${l.bias.name})` : `, bias not corrected: ${l.bias.skipped}`;
    const dead = l.deadInputs ? `, ${l.deadInputs} input(s) always 0 on the data: their weights set to 0 (weight SQNR understates)` : '';
    s += `  ${l.name}: ${l.method}${l.groups > 1 ? ` (${l.groups} groups)` : ''}${dead}${bias}\n`;
    if (l.fallback) s += `  ${c.yellow('fell back')} ${l.name}: ${l.fallback}\n`;
    if (l.note) s += `  ${c.yellow('note')} ${l.name}: ${l.note}\n`;
  }
  for (const k of r.skipped) s += `  ${c.yellow('not reconstructed')} ${k.name}: ${k.reason}\n`;
  if (!r.layers.length && r.skipped.length) s += `  ${c.yellow('warning')} no layer could be reconstructed (reasons above): every weight was quantized to nearest\n`;
  return s;
}

function parseBackupBits(v: unknown): BackupBits {
  const b = v === undefined ? '8' : String(v);
  if (b === 'none') return 'none';
  if (b === '8' || b === '16') return Number(b) as 8 | 16;
  throw new UsageError(`--backup-bits must be 8, 16 or none, got '${b}'`);
}

/** --min-output-sqnr, --no-output-check; the check runs on --eval-data when given and takes its --min-agreement. */
function outputCheckFromFlags(flags: Readonly<Record<string, unknown>>, gate: EvalGate | undefined): OutputCheckOptions | false {
  if (flags.outputCheck === false) {
    if (flags.minOutputSqnr !== undefined) throw new UsageError('--min-output-sqnr and --no-output-check exclude each other');
    return false;
  }
  let minOutputSqnrDb: number | undefined;
  if (flags.minOutputSqnr !== undefined) {
    minOutputSqnrDb = Number(flags.minOutputSqnr);
    if (!Number.isFinite(minOutputSqnrDb)) throw new UsageError(`--min-output-sqnr must be a number of dB, got '${String(flags.minOutputSqnr)}'`);
  }
  return { minOutputSqnrDb, minAgreement: gate?.budgets.minAgreement, data: gate?.data, required: minOutputSqnrDb !== undefined };
}

function renderHuman(r: QuantizeCliResult, ctx: CliContext): string {
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
  s += `${c.bold('coverage')} ${(rep.coverage.fraction * 100).toFixed(1)}% of the float weight bytes mc could take (${formatBytes(rep.coverage.compressedBytes)} quantized, ${formatBytes(rep.coverage.missedBytes)} not)\n`;
  for (const k of rep.skipped) if (k.kind === 'role' || k.kind === 'dtype' || k.kind === 'subgraph') s += `${c.yellow('not quantized')} ${k.name}: ${k.reason}\n`;
  const { before, after } = r.size;
  s += `${c.bold('model')} ${formatBytes(before.bytes)} → ${formatBytes(after.bytes)} (${ratio(after.bytes, before.bytes)})`;
  if (before.gzipBytes !== undefined && after.gzipBytes !== undefined) s += `; gzip ${formatBytes(before.gzipBytes)} → ${formatBytes(after.gzipBytes)} (${ratio(after.gzipBytes, before.gzipBytes)})`;
  s += '\n';
  if (rep.opsetBefore !== undefined && rep.opsetAfter !== rep.opsetBefore) s += `${c.bold('opset')} ${rep.opsetBefore} → ${rep.opsetAfter}\n`;
  for (const b of rep.backup ?? []) s += `${c.bold('backup')} ${b.name}: ${b.reason}\n`;
  if (r.reconstruct) s += renderReconstruct(r.reconstruct, ctx);
  if (r.outputCheck) s += renderOutputCheck(r.outputCheck, ctx);
  for (const w of rep.warnings) s += `${c.yellow('warning')} ${w}\n`;
  for (const n of r.notes) s += `${c.yellow('note')} ${n}\n`;
  s += `${c.green('wrote')} ${r.output}${r.verified ? ' (opened in onnxruntime)' : ''}\n`;
  return s;
}

/** The output check: where it ran, the outputs before and after back-off, and each weight backed off with why. */
function renderOutputCheck(o: OutputCheckReport, ctx: CliContext): string {
  const c = ctx.chalk;
  const db = (x: number | null): string => (x === null ? 'exact' : `${x.toFixed(1)} dB`);
  const outs = (rows: OutputCheckReport['before']): string => rows.map((r) => `${r.name} ${db(r.sqnrDb)}${r.agreement !== undefined ? ` (top-1 ${(100 * r.agreement).toFixed(1)}%)` : ''}`).join(', ');
  if (o.unchecked !== undefined) return `${c.yellow('warning')} outputs not checked against the float model: ${o.unchecked}\n`;
  const bound = o.bound.minOutputSqnrDb !== undefined ? `≥ ${o.bound.minOutputSqnrDb} dB` : 'no bound (measured only)';
  let s = `${c.bold('outputs')} in ${o.runtime} on ${o.inputs.description}, bound ${bound}${o.bound.minAgreement !== undefined ? `, top-1 ≥ ${o.bound.minAgreement}` : ''}: ${outs(o.before)}\n`;
  if (o.backedOff.length) {
    s += `${c.bold('backed off')} ${o.backedOff.length} weight(s) in ${o.trials} measured run(s), ${o.seconds.toFixed(1)} s:\n`;
    for (const b of o.backedOff) s += `  ${b.name}: ${b.from} → ${b.to} (${b.reason})\n`;
    s += `${c.bold('outputs')} after back-off: ${outs(o.after)}\n`;
  }
  for (const n of o.notes) s += `${c.yellow('note')} ${n}\n`;
  return s;
}

function colourSqnr(db: number, ctx: CliContext): string {
  const t = db.toFixed(1);
  return db < 20 ? ctx.chalk.red(t) : db < 30 ? ctx.chalk.yellow(t) : t;
}

function summarizeSkips(rep: QuantizeReport): string {
  const counts = new Map<string, number>();
  for (const s of rep.skipped) {
    const key = skipLabel(s);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}
