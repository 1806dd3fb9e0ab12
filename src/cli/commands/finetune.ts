/**
 * `mc finetune`: recover accuracy by training the model's weights, by distillation
 * from the model as given (or --teacher), cross-entropy on labels, or both. Thin over
 * pipeline/finetune.ts: flags → typed settings → finetuneFile → report.
 */
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { UsageError } from '../../errors';
import { finetuneFile, type FinetuneFileOptions, type FinetuneFileResult } from '../../pipeline/finetune';
import { BN_MODES, LOSSES, OPTIMIZERS, renderCurve, SCHEDULES } from '../../train';
import { commaList, finiteNumber, oneOf, optionalString, stringList, wholeNumber } from '../flags';
import { resolveQuantizeOptions, type QuantizeOptions } from '../../passes';
import type { QatSettings } from '../../train/fake-quant';
import type { StaticQatSettings } from '../../pipeline/qat-static';
import { resolveStaticOptions, type StaticQuantizeOptions } from '../../passes/quantize/static';

export type FinetuneCliOptions = Omit<FinetuneFileOptions, 'progress' | 'onStep'> & { json: boolean };

export const finetuneCommand = defineCommand<FinetuneCliOptions>({
  name: 'finetune',
  configure: (cmd) => cmd
    .description('fine-tune a (pruned or quantized-to-be) model: distillation from the original, cross-entropy on labels, or both; masks of pruned weights are kept')
    .argument('<model>', 'input model (.onnx, or a tfjs layers or graph model: model.json or its folder)')
    .requiredOption('--data <x>', 'training inputs (.npy/.npz; never the eval set)')
    .option('--labels <y>', 'class ids for --data (needed by --loss ce and kd+ce)')
    .option('-o, --output <path>', 'output (default: model.finetuned.onnx, or folder m-finetuned/)')
    .option('--teacher <model>', 'the model to distil from (default: the input model as given, before training)')
    .option('--loss <l>', 'kd (distillation, no labels), ce (cross-entropy), kd+ce, or mse (against the teacher\'s outputs, for non-classifier outputs)', 'kd')
    .option('--temperature <t>', 'distillation temperature T (the loss is scaled by T²)', '2')
    .option('--alpha <a>', 'kd+ce: weight of the distillation term', '0.5')
    .option('--epochs <n>', 'passes over --data', '1')
    .option('--batch-size <n>', 'samples per step', '32')
    .option('--samples <n>', 'use at most this many samples of --data')
    .option('--optimizer <o>', 'adam, adamw or sgd', 'adam')
    .option('--momentum <m>', 'sgd momentum', '0.9')
    .option('--weight-decay <w>', 'L2 (sgd, adam) or decoupled (adamw) weight decay', '0')
    .option('--lr <lr>', 'learning rate, or "find" (range test, Smith 2017)', '1e-3')
    .option('--schedule <s>', 'constant, step, cosine, onecycle or plateau', 'cosine')
    .option('--warmup <f>', 'linear warmup as a fraction of all steps (constant, step, cosine, plateau)', '0.05')
    .option('--val-data <x>', 'validation inputs (top-1 per epoch; plateau and --early-stop read it)')
    .option('--val-labels <y>', 'validation class ids')
    .option('--early-stop <n>', 'stop after n epochs without a better validation accuracy')
    .option('--seed <n>', 'shuffle seed', '0')
    .option('--bn-mode <m>', 'ONNX BatchNormalization while training: frozen (the stored statistics) or train (each batch\'s own statistics; the running ones updated with the node\'s momentum and written, as PyTorch\'s model.train())', 'frozen')
    .option('--bn-recalibrate', 'ONNX: re-estimate BatchNormalization statistics on --data before training (adaptive BN), then keep them frozen (default: keep the stored ones)')
    .option('--prune-to <s>', 'gradual magnitude pruning while training (Zhu & Gupta 2017, tfmot PolynomialDecay): final sparsity of the layer weights, global with the one-shot pass\'s 5% per-layer floor (mc prune --schedule polynomial is the full form)')
    .option('--initial-sparsity <s>', 'gradual pruning: starting sparsity', '0')
    .option('--prune-frequency <n>', 'gradual pruning: re-prune every n steps', '100')
    .option('--prune-end <f>', 'gradual pruning: reach the final sparsity at this fraction of the steps (then fine-tune with the mask fixed)', '0.75')
    .option('--qat', 'quantization-aware training (ONNX): fake-quantize the weights mc quantize takes with these settings while training (straight-through gradient), then write the output in mc quantize\'s forms')
    .option('--bits <n>', '--qat: 4 or 8 (as mc quantize; --qat --calib is always int8)', '4')
    .option('--granularity <g>', '--qat: tensor, channel or block (default: block for 4 bits, channel for 8)')
    .option('--block-size <n>', '--qat: block length along the reduction axis', '32')
    .option('--asymmetric', '--qat: asymmetric weights with a zero point (default symmetric)')
    .option('--int4-format <f>', '--qat: matmulnbits or qdq', 'matmulnbits')
    .option('--backup-bits <b>', '--qat with 4 bits: the embedding and last layer stay int8 (8), float (16) or go to int4 (none), as mc quantize', '8')
    .option('--exclude <glob...>', '--qat: weight or node names to keep in float')
    .option('--op-types <list>', '--qat: only quantize weights of these ops, comma-separated')
    .option('--calib <x>', '--qat: static int8 (QDQ) instead of weight-only: calibrate the float model on these inputs first, fake-quantize weights and activations on that grid while training, and write mc quantize --calib\'s form with the same ranges')
    .option('--calib-method <m>', '--qat --calib: minmax, percentile, entropy or mse', 'minmax')
    .option('--percentile <p>', '--qat --calib, percentile method: percentage of values kept', '99.999')
    .option('--calib-samples <n>', '--qat --calib: calibrate on at most n samples')
    .option('--per-tensor', '--qat --calib: one weight scale per tensor instead of per channel')
    .option('--small-layers <choice>', '--qat --calib: MatMul/Gemm layers left float: measure (default), int8 (none), or a comma list of node names')
    .option('--force', 'allow the output to replace the input')
    .option('--json', 'print the result (with the per-epoch log) as JSON on stdout'),
  parse: ([input], flags) => parseFinetuneFlags(input, flags),
  run: async (o, ctx) => {
    const progress = ctx.progress(`fine-tuning ${o.input}`, { quiet: o.json });
    let r: FinetuneFileResult;
    try {
      r = await finetuneFile({
        ...o,
        progress: (m) => progress.update(m),
        onStep: (s) => progress.update(`epoch ${s.epoch + 1}/${o.settings.epochs} step ${s.step}/${s.stepsPerEpoch} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)} ${s.examplesPerSecond.toFixed(0)} ex/s ETA ${Math.ceil(s.etaSeconds)} s`),
      });
      progress.stop();
    } catch (e) {
      progress.fail();
      throw e;
    }
    ctx.io.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : renderHuman(r, ctx));
    return 0;
  },
});

export function parseFinetuneFlags(input: string, f: Readonly<Record<string, unknown>>): FinetuneCliOptions {
  const lrFlag = String(f.lr ?? '1e-3');
  const lr = lrFlag === 'find' ? 'find' : finiteNumber(lrFlag, '--lr');
  if (lr !== 'find' && !(lr > 0)) throw new UsageError(`--lr must be positive or "find", got '${lrFlag}'`);
  const temperature = finiteNumber(f.temperature ?? '2', '--temperature');
  if (!(temperature > 0)) throw new UsageError('--temperature must be positive');
  const warmup = finiteNumber(f.warmup ?? '0.05', '--warmup');
  if (warmup < 0 || warmup >= 1) throw new UsageError('--warmup must be in [0, 1)');
  const alpha = finiteNumber(f.alpha ?? '0.5', '--alpha');
  if (alpha < 0 || alpha > 1) throw new UsageError('--alpha must be in [0, 1]');
  return {
    input,
    output: optionalString(f.output),
    data: String(f.data),
    labels: optionalString(f.labels),
    teacher: optionalString(f.teacher),
    valData: optionalString(f.valData),
    valLabels: optionalString(f.valLabels),
    force: f.force === true,
    json: f.json === true,
    settings: {
      loss: oneOf(f.loss ?? 'kd', LOSSES, '--loss'),
      temperature,
      alpha,
      epochs: wholeNumber(f.epochs ?? '1', '--epochs', 1),
      batchSize: wholeNumber(f.batchSize ?? '32', '--batch-size', 1),
      samples: f.samples !== undefined ? wholeNumber(f.samples, '--samples', 1) : undefined,
      optimizer: {
        kind: oneOf(f.optimizer ?? 'adam', OPTIMIZERS, '--optimizer'),
        momentum: finiteNumber(f.momentum ?? '0.9', '--momentum'),
        weightDecay: finiteNumber(f.weightDecay ?? '0', '--weight-decay'),
      },
      lr,
      schedule: oneOf(f.schedule ?? 'cosine', SCHEDULES, '--schedule'),
      warmup,
      earlyStop: f.earlyStop !== undefined ? wholeNumber(f.earlyStop, '--early-stop', 1) : undefined,
      seed: wholeNumber(f.seed ?? '0', '--seed'),
      bnRecalibrate: f.bnRecalibrate === true,
      bnMode: oneOf(f.bnMode ?? 'frozen', BN_MODES, '--bn-mode'),
      prune: f.pruneTo === undefined ? undefined : {
        final: fraction(f.pruneTo, '--prune-to'),
        initial: fraction(f.initialSparsity ?? '0', '--initial-sparsity'),
        frequency: wholeNumber(f.pruneFrequency ?? '100', '--prune-frequency', 1),
        end: fraction(f.pruneEnd ?? '0.75', '--prune-end'),
      },
      qat: f.calib === undefined ? parseQat(f) : undefined,
      qatStatic: parseStaticQat(f),
    },
  };
}

/** --qat and mc quantize's weight-only options (same names, same defaults and checks). */
function parseQat(f: Readonly<Record<string, unknown>>): QatSettings | undefined {
  const given = ['granularity', 'asymmetric', 'exclude', 'opTypes'].filter((k) => f[k] !== undefined);
  if (f.qat !== true) {
    if (given.length) throw new UsageError('--granularity, --asymmetric, --exclude and --op-types are --qat settings: add --qat');
    return undefined;
  }
  const bits = wholeNumber(f.bits ?? '4', '--bits');
  if (bits !== 8 && bits !== 4) throw new UsageError(`--bits must be 8 or 4, got ${bits}`);
  const opTypes = commaList(f.opTypes);
  if (opTypes && opTypes.length === 0) throw new UsageError('--op-types needs at least one op type');
  const quantize = resolveQuantizeOptions({
    bits, granularity: f.granularity as QuantizeOptions['granularity'] | undefined,
    blockSize: wholeNumber(f.blockSize ?? '32', '--block-size'), symmetric: f.asymmetric !== true,
    int4Format: f.int4Format as QuantizeOptions['int4Format'] | undefined, exclude: stringList(f.exclude), opTypes,
  });
  const b = String(f.backupBits ?? '8');
  if (b !== '8' && b !== '16' && b !== 'none') throw new UsageError(`--backup-bits must be 8, 16 or none, got '${b}'`);
  return { quantize, backupBits: b === 'none' ? 'none' : (Number(b) as 8 | 16) };
}

/** --qat --calib: static int8 QAT with mc quantize --calib's options (same names, same checks: resolveStaticOptions). */
function parseStaticQat(f: Readonly<Record<string, unknown>>): StaticQatSettings | undefined {
  const given = ['calibSamples', 'perTensor', 'smallLayers'].filter((k) => f[k] !== undefined);
  if (f.calib === undefined) {
    if (given.length || (f.calibMethod !== undefined && f.calibMethod !== 'minmax')) throw new UsageError('--calib-method, --calib-samples, --per-tensor and --small-layers are --qat --calib settings: add --calib');
    return undefined;
  }
  if (f.qat !== true) throw new UsageError('--calib trains for static int8: add --qat');
  const weightOnly = ['granularity', 'asymmetric', 'opTypes'].filter((k) => f[k] !== undefined);
  // (--bits has a default, so it cannot be told apart from an explicit --bits 4: static QAT is int8 whatever it says)
  if (weightOnly.length) throw new UsageError('--qat --calib is static int8: --granularity, --asymmetric and --op-types are weight-only settings');
  const small = f.smallLayers === undefined ? undefined : String(f.smallLayers);
  return {
    calib: String(f.calib),
    options: resolveStaticOptions({
      calibrationMethod: String(f.calibMethod ?? 'minmax') as StaticQuantizeOptions['calibrationMethod'],
      percentile: finiteNumber(f.percentile ?? '99.999', '--percentile'),
      samples: f.calibSamples !== undefined ? wholeNumber(f.calibSamples, '--calib-samples', 1) : undefined,
      perTensor: f.perTensor === true,
      exclude: stringList(f.exclude),
      smallLayers: small === undefined || small === 'measure' || small === 'int8' ? (small ?? 'measure') : small.split(',').map((x) => x.trim()).filter(Boolean),
    }),
  };
}

function fraction(v: unknown, flag: string): number {
  const x = finiteNumber(v, flag);
  if (x < 0 || x >= 1) throw new UsageError(`${flag} must be in [0, 1)`);
  return x;
}

function renderHuman(r: FinetuneFileResult, ctx: CliContext): string {
  const c = ctx.chalk;
  let s = '';
  const t = r.training;
  if (t.lrFind) s += `${c.bold('lr find')} (smoothed loss by learning rate)\n${renderCurve(t.lrFind)}picked ${t.lr.toExponential(2)}${t.lrFind.diverged ? ' (the loss blew up after it)' : ''}\n`;
  s += `${c.bold('trained')} ${r.samples} sample(s), ${t.steps} step(s), ${r.settings.loss} loss, ${r.settings.optimizer.kind} at ${t.lr.toExponential(2)} (${r.settings.schedule}) on ${r.engine}; ${t.maskedZeros} pruned zero(s) kept\n`;
  for (const e of t.epochs) s += `  epoch ${e.epoch}: loss ${e.loss.toFixed(4)}${e.valAccuracy !== undefined ? `, val top-1 ${(e.valAccuracy * 100).toFixed(2)}%` : ''} (${e.seconds.toFixed(1)} s)\n`;
  if (t.stoppedEarly) s += `  stopped early (no better validation accuracy for ${r.settings.earlyStop} epoch(s))\n`;
  for (const n of r.notes) s += `${c.yellow('note')} ${n}\n`;
  if (r.quantize) {
    const q = r.quantize;
    s += `${c.bold('quantized')} ${q.tensors.length} weight(s) of the trained model (${r.settings.qat?.quantize.bits}-bit, fake-quantized while training): ${q.tensors.map((t) => `${t.name} ${t.form}`).join('; ')}\n`;
  }
  if (r.staticQuantize) {
    const q = r.staticQuantize;
    s += `${c.bold('quantized')} static int8 (QDQ) with the ranges calibrated before training: ${q.quantizedNodes.length} node(s), ${q.activations.length} activation(s), ${q.weights.length} weight(s)\n`;
  }
  s += `${c.green('wrote')} ${r.output}${r.written.verified ? ' (opened in onnxruntime)' : ''}; teacher sha256 ${r.teacher.sha256.slice(0, 12)}…\n`;
  return s;
}
