/**
 * `mc quantize --calib <data>`: static int8 (QDQ) quantization with
 * calibration. quantize.ts dispatches here when --calib (or --mode static) is
 * given; this file turns the flags into StaticQuantizeOptions and runs
 * load → quantizeStatic → onnxruntime load check → atomic save → report.
 */
import type { CliContext } from '../context';
import { UsageError } from '../../errors';
import { detectFormat } from '../../formats';
import { parsePreprocess } from '../../data';
import { formsFor, resolveStaticOptions, SmallLayers, StaticQuantizeOptions } from '../../passes/quantize/static';
import type { CalibrationMethod } from '../../calibrate';
import type { EvalReport } from '../../eval';
import { quantizeStaticFile, StaticQuantizeFileResult } from '../../pipeline/static';
import { EvalGate, runRewriteWithGate } from '../eval-gate';
import { commaList, stringList, wholeNumber } from '../flags';
import { formatBytes } from '../format';
import { renderTable } from '../table';

export interface StaticCliOptions {
  input: string;
  output: string;
  calib: string;
  options: StaticQuantizeOptions;
  force: boolean;
  /** --allow-partial: write the model even when no node was quantized. */
  allowPartial: boolean;
  json: boolean;
}

/** What `--json` prints: the static quantize result, plus the eval report when --eval-data was given. */
export interface StaticCliResult extends StaticQuantizeFileResult {
  eval?: EvalReport;
}

/** Flags → typed options; `output` is the already-resolved output path. */
export function parseStaticFlags(input: string, output: string, flags: Readonly<Record<string, unknown>>): StaticCliOptions {
  if (flags.calib === undefined) throw new UsageError('--mode static needs calibration data: --calib <data>');
  if (flags.bits !== undefined && String(flags.bits) !== '8') throw new UsageError(`static quantization is int8: --bits must be 8, got ${String(flags.bits)}`);
  if (detectFormat(input) !== 'onnx') throw new UsageError('static quantization (--calib) needs an ONNX model: tfjs has no int8 kernels');
  const percentile = flags.percentile === undefined ? undefined : Number(flags.percentile);
  if (percentile !== undefined && !Number.isFinite(percentile)) throw new UsageError(`--percentile must be a number, got '${String(flags.percentile)}'`);
  const opTypes = commaList(flags.opTypes);
  const options = resolveStaticOptions({
    calibrationMethod: flags.calibMethod as CalibrationMethod | undefined,
    percentile,
    samples: flags.calibSamples === undefined ? undefined : wholeNumber(flags.calibSamples, '--calib-samples', 1),
    batchSize: flags.batchSize === undefined ? undefined : wholeNumber(flags.batchSize, '--batch-size', 1),
    activationType: flags.activationType as StaticQuantizeOptions['activationType'] | undefined,
    perTensor: flags.perTensor === true || flags.granularity === 'tensor',
    exclude: stringList(flags.exclude),
    opTypes,
    preprocess: flags.preprocess === undefined ? undefined : parsePreprocess(String(flags.preprocess)),
    spaceToDepthPooling: parseSpaceToDepth(flags.spaceToDepth),
    smallLayers: parseSmallLayers(flags.smallLayers),
    target: flags.target as StaticQuantizeOptions['target'] | undefined,
  });
  return { input, output, calib: String(flags.calib), options, force: flags.force === true, allowPartial: flags.allowPartial === true, json: flags.json === true };
}

/** --space-to-depth measure|on|off (--no-space-to-depth: off); undefined: the default (measure). */
export function parseSpaceToDepth(v: unknown): StaticQuantizeOptions['spaceToDepthPooling'] | undefined {
  if (v === undefined || v === true) return undefined;
  if (v === false || v === 'off') return false;
  if (v === 'on') return true;
  if (v === 'measure') return 'measure';
  throw new UsageError(`--space-to-depth must be measure, on or off, got '${String(v)}'`);
}

/** --small-layers measure|int8|<node,node,...> (the MatMul/Gemm nodes to keep float). */
export function parseSmallLayers(v: unknown): SmallLayers | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim();
  if (s === 'measure' || s === 'int8') return s;
  const names = s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  if (!names.length) throw new UsageError(`--small-layers must be measure, int8, or a comma list of MatMul/Gemm node names, got '${s}'`);
  return names;
}

export function runStaticQuantize(o: StaticCliOptions, gate: EvalGate | undefined, ctx: CliContext): Promise<number> {
  return runRewriteWithGate(
    ctx, { title: `quantizing ${o.input} (static int8, ${o.options.calibrationMethod} calibration)`, input: o.input, json: o.json, gate },
    (progress): Promise<StaticCliResult> => quantizeStaticFile({ ...o, progress }),
    (r) => renderHuman(r, o.options, ctx),
  );
}

/** How the small-layer and space-to-depth decisions were made, with the times measured and the flag that pins each. */
export function renderDecisions(rep: StaticQuantizeFileResult['report'], bold: (t: string) => string): string {
  const d = rep.decisions;
  if (!d) return '';
  const ms = (x: number | undefined): string => (x === undefined ? '?' : `${x.toPrecision(3)} ms`);
  let s = '';
  const sl = d.smallLayers;
  if (sl.layers.length) {
    const how = sl.how === 'measured' ? 'timed alone in float and int8 (median, 1 thread)' : sl.how === 'pinned' ? 'pinned by --small-layers' : '--small-layers int8';
    s += `${bold('small layers')} ${how}: ${sl.layers.map((l) => `${l.node} ${l.int8 ? 'int8' : 'float'}${l.floatMs !== undefined ? ` (${ms(l.int8Ms)} int8 vs ${ms(l.floatMs)} float at ${l.shape})` : ''}`).join(', ')}; pin with --small-layers ${sl.pin}\n`;
  }
  const sd = d.spaceToDepth;
  if (sd.how === 'measured') s += `${bold('space-to-depth')} ${sd.applied ? 'applied' : 'not applied'}: the model ran in ${ms(sd.rewrittenMs)} with it, ${ms(sd.plainMs)} without (median, 1 thread); pin with --space-to-depth ${sd.pin}\n`;
  else if (sd.how === 'pinned' || sd.how === 'off') s += `${bold('space-to-depth')} ${sd.how === 'pinned' ? 'on' : 'off'} (--space-to-depth ${sd.pin})\n`;
  return s;
}

/** The human report of a static run (also used by quantize.ts, which runs it as a plan). */
export function renderHuman(r: StaticCliResult, o: StaticQuantizeOptions, ctx: CliContext): string {
  const c = ctx.chalk;
  const rep = r.report;
  const rows = rep.activations.map((a) => [
    a.name, a.min === undefined ? '' : a.min.toPrecision(4), a.max === undefined ? '' : a.max.toPrecision(4),
    a.scale.toPrecision(4), String(a.zeroPoint), a.sharedWith ? `= ${a.sharedWith}` : '',
  ]);
  let s = renderTable(
    [{ header: 'activation' }, { header: 'min', align: 'right' }, { header: 'max', align: 'right' }, { header: 'scale', align: 'right' },
      { header: 'zp', align: 'right' }, { header: 'shares' }],
    rows,
    { styleHeader: (h) => c.bold(h) },
  );
  const target = o.target;
  s += `${c.bold('target')} ${target}: ${formsFor(target).reason}\n`;
  for (const t of rep.transformations) s += `${c.bold('transform')} ${t}\n`;
  const cal = rep.calibration;
  s += `${c.bold('calibrated')} ${cal.samples} samples in ${cal.batches} batch(es) of ≤${cal.batchSize}, ${cal.method}, ${cal.seconds.toFixed(2)} s\n`;
  if (cal.cache) s += `${c.bold('calibration cache')} ${cal.cache.action === 'read' ? 'read' : 'wrote'} ${cal.cache.file}${cal.cache.reason ? ` (${cal.cache.reason})` : ''}\n`;
  s += renderDecisions(rep, c.bold);
  s += `${c.bold('int8')} ${rep.quantizedNodes.map((n) => `${n.opType} ${n.name}`).join(', ') || 'nothing'}`;
  s += rep.folded.length ? `; folded ${rep.folded.join(', ')}\n` : '\n';
  for (const k of rep.skipped) s += `${c.yellow('float')} ${k.opType} ${k.node}: ${k.reason}\n`;
  s += `${c.bold('model')} ${formatBytes(r.size.before.bytes)} → ${formatBytes(r.size.after.bytes)}\n`;
  for (const w of rep.warnings) s += `${c.yellow('warning')} ${w}\n`;
  for (const n of r.notes) s += `${c.yellow('note')} ${n}\n`;
  s += `${c.green('wrote')} ${r.output}${r.verified ? ' (opened in onnxruntime)' : ''}\n`;
  return s;
}
