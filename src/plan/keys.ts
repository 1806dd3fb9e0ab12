/**
 * A step's recipe keys (the CLI flag names without `--`) ↔ its typed options.
 * `stepFromKeys` reads a step the schema has already checked for names and
 * types; the passes' own resolvers then fill defaults and refuse combinations
 * with no meaning. `keysOfStep` writes a step back with every default filled,
 * which is the form `--recipe-out` writes and the canonical recipe hashes, so
 * flags and the recipe they became give the same plan, key for key.
 */
import * as path from 'path';
import { UsageError } from '../errors';
import { parsePreprocess } from '../data';
import type { CalibrationMethod } from '../calibrate';
import { defaultRounds, PRUNE_DEFAULTS, validatePruneOptions, type PruneOptions, type Scope } from '../passes/prune';
import { resolveQuantizeOptions, type QuantizeOptions } from '../passes/quantize/options';
import type { BackupBits } from '../passes/quantize/backup';
import { resolveStaticOptions, type StaticQuantizeOptions } from '../passes/quantize/static';
import { checkFinetuneSettings, FINETUNE_DEFAULTS, type FinetuneSettings } from '../pipeline/finetune';
import type { FinetuneStep, PlanStep, PruneStep, QuantizeStep, Selection, StaticStep, StepTraining } from './types';

export type Keys = Record<string, unknown>;

/** Keys only a static (calib) step takes, and keys only a weight-only/dynamic step takes. */
const STATIC_ONLY = ['calib-cache', 'calib-method', 'percentile', 'calib-samples', 'batch-size', 'activation-type', 'per-tensor', 'space-to-depth', 'small-layers', 'preprocess'];
/** Weight reconstruction keys (weight-only steps), and the static keys a reconstructing step takes for its data. */
const RECONSTRUCT_ONLY = ['method', 'damp', 'act-order', 'gptq-block', 'clip-search', 'bias-correction'];
const RECONSTRUCT_DATA = ['calib-samples', 'batch-size'];
const WEIGHT_ONLY = ['backup-bits', 'block-size', 'symmetric', 'asymmetric', 'int4-format', 'tfjs-dtype', 'min-elements', 'min-weight-sqnr', 'verify', 'min-output-sqnr', 'output-check'];

/** A path written in a recipe, as a path from the working directory (`base` is the recipe's folder). */
export function pathFrom(base: string, p: string): string {
  return path.isAbsolute(p) ? p : path.join(base, p);
}

/**
 * A path from the working directory, as the recipe in `base` writes it: always relative to
 * the recipe's folder ('/' separators), so the canonical recipe and its hash do not depend on
 * where the recipe or the working directory is.
 */
export function pathIn(base: string, p: string): string {
  return (path.relative(base, p) || '.').split(path.sep).join('/');
}

/**
 * The typed step for `kind` ('prune' or 'quantize') and its checked keys. Throws UsageError
 * (the reader adds file, line and key); `base` resolves the paths in the keys.
 */
export function stepFromKeys(kind: 'prune' | 'quantize' | 'finetune', k: Keys, select: Selection, base: string): PlanStep {
  if (kind === 'prune') return pruneStep(k, select, base);
  if (kind === 'finetune') return finetuneStep(k, select, base);
  // calib feeds weight reconstruction when a key asks for one (GPTQ, clip search, bias correction); otherwise it means static int8
  // bias-correction with mode static is the static step's own (pipeline/static-bias-correction.ts)
  const reconstructs = k.method === 'gptq' || k['clip-search'] === true || (k['bias-correction'] === true && k.mode !== 'static');
  if (reconstructs && k.mode === 'static') throw new UsageError('method gptq and clip-search are weight-only: not with mode static');
  const isStatic = (k.calib !== undefined && !reconstructs) || k.mode === 'static';
  const wrong = (isStatic ? [...WEIGHT_ONLY, ...RECONSTRUCT_ONLY.filter((key) => key !== 'bias-correction')] : STATIC_ONLY.filter((key) => !(reconstructs && RECONSTRUCT_DATA.includes(key)))).filter((key) => k[key] !== undefined);
  if (wrong.length) {
    throw new UsageError(isStatic
      ? `'${wrong[0]}' is a weight-only/dynamic key; a step with calib is static int8`
      : `'${wrong[0]}' is a static int8 key; it needs calib (calibration data)`);
  }
  return isStatic ? staticStep(k, select, base) : quantizeStep(k, select, base);
}

function pruneStep(k: Keys, select: Selection, base: string): PruneStep {
  const nm = /^(\d+):(\d+)$/.exec(String(k['n-m'] ?? '2:4'))!;
  if (k.method !== undefined && k.criterion !== undefined && k.method !== k.criterion) throw new UsageError(`method ${String(k.method)} and criterion ${String(k.criterion)} disagree (they are one setting)`);
  const options: PruneOptions = {
    sparsity: k.sparsity as number,
    criterion: (k.method ?? k.criterion ?? PRUNE_DEFAULTS.criterion) as PruneOptions['criterion'],
    pattern: (k.pattern ?? PRUNE_DEFAULTS.pattern) as PruneOptions['pattern'],
    nm: { n: Number(nm[1]), m: Number(nm[2]) },
    scope: (k.scope ?? PRUNE_DEFAULTS.scope) as PruneOptions['scope'],
    exclude: [],
    minDensity: (k['min-density'] ?? PRUNE_DEFAULTS.minDensity) as number,
  };
  options.rounds = (k.rounds as number | undefined) ?? defaultRounds(options);
  if (k['channel-multiple'] !== undefined) options.channelMultiple = k['channel-multiple'] as number;
  validatePruneOptions(options);
  const data = k.data === undefined ? undefined : pathFrom(base, String(k.data));
  if (options.criterion === 'saliency' && !data) throw new UsageError('criterion saliency needs data (input samples for the gradients; labels recommended)');
  if (options.criterion === 'sparsegpt' && !data) throw new UsageError('method sparsegpt needs data (calibration inputs for the layer Hessians; not the eval set)');
  if (k.labels !== undefined && !data) throw new UsageError('labels needs data');
  const labels = k.labels === undefined ? undefined : pathFrom(base, String(k.labels));
  const gradual = (k.schedule ?? 'one-shot') === 'polynomial' ? {
    settings: gradualSettings(options, {
      epochs: k['finetune-epochs'] as number | undefined, frequency: k.frequency as number | undefined, initial: k['initial-sparsity'] as number | undefined,
      end: k['prune-end'] as number | undefined, lr: k.lr as number | 'find' | undefined, loss: k.loss as FinetuneSettings['loss'] | undefined,
      seed: k.seed as number | undefined, samples: k.samples as number | undefined, batchSize: k['batch-size'] as number | undefined,
      bnMode: k['bn-mode'] as FinetuneSettings['bnMode'],
    }, { data, labels, exclude: [...(select.layers ?? []), ...select.exclude] }),
    teacher: k.teacher === undefined ? undefined : pathFrom(base, String(k.teacher)),
  } : undefined;
  if (!gradual) {
    const stray = GRADUAL_KEYS.find((key) => k[key] !== undefined);
    if (stray) throw new UsageError(`--${stray} is a gradual pruning setting: it needs --schedule polynomial`);
  }
  return {
    kind: 'prune', select, options, data, labels,
    samples: (k.samples as number | undefined) ?? 256,
    batchSize: (k['batch-size'] as number | undefined) ?? 32,
    allowPartial: k['allow-partial'] === true,
    gradual,
  };
}

/** The keys (flags) of `mc prune --schedule polynomial` beyond the one-shot ones. */
export const GRADUAL_KEYS = ['finetune-epochs', 'frequency', 'initial-sparsity', 'prune-end', 'teacher', 'lr', 'loss', 'seed', 'bn-mode'];

/**
 * `mc prune --schedule polynomial`: the fine-tuning settings of gradual magnitude pruning
 * (mc finetune's defaults where a flag is not given; all of --data unless --samples). The
 * re-prunes use the one-shot pass's selection at its --scope and --min-density. Flag names in errors.
 */
export function gradualSettings(o: PruneOptions, g: {
  epochs?: number; frequency?: number; initial?: number; end?: number; lr?: number | 'find'; loss?: FinetuneSettings['loss']; seed?: number; samples?: number; batchSize?: number;
  bnMode?: FinetuneSettings['bnMode'];
}, io: { data?: string; labels?: string; exclude: readonly string[] }): FinetuneSettings {
  if (o.criterion !== 'magnitude' || o.pattern !== 'unstructured') throw new UsageError(`--schedule polynomial is gradual magnitude pruning: --method magnitude --pattern unstructured, not ${o.criterion} ${o.pattern}`);
  if (!io.data) throw new UsageError('--schedule polynomial fine-tunes between prunes: it needs --data (training inputs; not the eval set)');
  if (io.exclude.length) throw new UsageError('--schedule polynomial prunes every Conv/Gemm/MatMul weight: --exclude (and a step\'s layers) are not supported with it yet');
  const d = FINETUNE_DEFAULTS;
  const settings: FinetuneSettings = {
    loss: g.loss ?? d.loss, temperature: d.temperature, alpha: d.alpha, epochs: g.epochs ?? d.epochs, batchSize: g.batchSize ?? d.batchSize, samples: g.samples,
    optimizer: { kind: d.optimizer, momentum: d.momentum, weightDecay: d.weightDecay },
    lr: g.lr ?? d.lr, schedule: d.schedule, warmup: d.warmup, seed: g.seed ?? d.seed, bnMode: g.bnMode ?? d.bnMode,
    prune: { final: o.sparsity, initial: g.initial ?? d.initialSparsity, frequency: g.frequency ?? d.pruneFrequency, end: g.end ?? d.pruneEnd, scope: o.scope, minDensity: o.minDensity },
  };
  checkFinetuneSettings(settings, { labels: io.labels });
  return settings;
}

/** A finetune step: the keys are `mc finetune`'s flags (and gradual pruning's), with its defaults. */
function finetuneStep(k: Keys, select: Selection, base: string): FinetuneStep {
  if (select.layers || select.exclude.length) throw new UsageError('a finetune step trains every trainable weight: it takes no layers or exclude');
  return { kind: 'finetune', select, ...trainingFromKeys(k, base, true) };
}

/** The keys of a finetune step that set gradual magnitude pruning (with prune-to). */
const PRUNE_TO_KEYS = ['prune-to', 'initial-sparsity', 'prune-frequency', 'prune-end', 'scope', 'min-density'];

/**
 * What to train on and how: a finetune step's keys, or (without the gradual pruning keys:
 * `gradual` false) a quantize or static step's `finetune:` map, which trains for that step's forms.
 */
function trainingFromKeys(k: Keys, base: string, gradual: boolean): StepTraining {
  const d = FINETUNE_DEFAULTS;
  const path = (key: string): string | undefined => (k[key] === undefined ? undefined : pathFrom(base, String(k[key])));
  if (!gradual) {
    const stray = PRUNE_TO_KEYS.find((key) => k[key] !== undefined);
    if (stray) throw new UsageError(`'${stray}' is a gradual pruning key: a quantize step's finetune: trains for its quantized forms (QAT); gradual pruning is a finetune step's (prune-to)`);
  } else if (k['prune-to'] === undefined) {
    const stray = PRUNE_TO_KEYS.slice(1).find((key) => k[key] !== undefined);
    if (stray) throw new UsageError(`'${stray}' is a gradual pruning key: it needs prune-to`);
  }
  const settings: FinetuneSettings = {
    loss: (k.loss ?? d.loss) as FinetuneSettings['loss'],
    temperature: (k.temperature ?? d.temperature) as number,
    alpha: (k.alpha ?? d.alpha) as number,
    epochs: (k.epochs ?? d.epochs) as number,
    batchSize: (k['batch-size'] ?? d.batchSize) as number,
    samples: k.samples as number | undefined,
    optimizer: {
      kind: (k.optimizer ?? d.optimizer) as FinetuneSettings['optimizer']['kind'],
      momentum: (k.momentum ?? d.momentum) as number,
      weightDecay: (k['weight-decay'] ?? d.weightDecay) as number,
    },
    lr: (k.lr ?? d.lr) as number | 'find',
    schedule: (k.schedule ?? d.schedule) as FinetuneSettings['schedule'],
    warmup: (k.warmup ?? d.warmup) as number,
    earlyStop: k['early-stop'] as number | undefined,
    seed: (k.seed ?? d.seed) as number,
    bnRecalibrate: k['bn-recalibrate'] === true,
    bnMode: (k['bn-mode'] ?? d.bnMode) as FinetuneSettings['bnMode'],
    prune: k['prune-to'] === undefined ? undefined : {
      final: k['prune-to'] as number,
      initial: (k['initial-sparsity'] ?? d.initialSparsity) as number,
      frequency: (k['prune-frequency'] ?? d.pruneFrequency) as number,
      end: (k['prune-end'] ?? d.pruneEnd) as number,
      scope: (k.scope ?? d.pruneScope) as Scope,
      minDensity: (k['min-density'] ?? PRUNE_DEFAULTS.minDensity) as number,
    },
  };
  const t: StepTraining = { settings, data: pathFrom(base, String(k.data)), labels: path('labels'), teacher: path('teacher'), valData: path('val-data'), valLabels: path('val-labels') };
  checkFinetuneSettings(settings, t);
  return t;
}

/** An error in a map nested inside a step (a quantize step's `finetune:`): `at` is its path below the step's kind. */
export class NestedKeyError extends UsageError {
  constructor(readonly at: readonly string[], message: string) {
    super(message);
  }
}

/**
 * A quantize or static step's `finetune:` (QAT), read with the finetune step's reader. Refuses what
 * the QAT engine (pipeline/finetune.ts, settings.qat / qatStatic) cannot train for: weight levels not
 * chosen by round to nearest (GPTQ, clip search, bias correction), dynamic mode, and the output
 * check's back-off (it would change the forms that were trained for).
 */
function qatTraining(k: Keys, base: string, isStatic: boolean): StepTraining | undefined {
  if (k.finetune === undefined) return undefined;
  const no = (key: string, why: string): void => {
    if (k[key] !== undefined && k[key] !== false) throw new UsageError(`${key} and finetune: (quantization-aware training) exclude each other: ${why}`);
  };
  if (isStatic) {
    no('bias-correction', 'bias correction shifts biases after training and would break the match with training');
    no('calib-cache', 'static QAT calibrates the float model itself before training, and reads no cache');
    if (k['space-to-depth'] === 'on' || k['space-to-depth'] === true) throw new UsageError('space-to-depth on and finetune: (quantization-aware training) exclude each other: the rewrite is not applied to a trained model');
  } else {
    if (k.method !== undefined && k.method !== 'rtn') throw new UsageError(`method ${String(k.method)} and finetune: exclude each other: QAT trains for the round-to-nearest levels the quantize pass computes from the trained weights`);
    no('clip-search', 'QAT trains for the round-to-nearest levels the quantize pass computes from the trained weights');
    no('bias-correction', 'QAT trains for the round-to-nearest levels the quantize pass computes from the trained weights');
    if (k.mode === 'dynamic') throw new UsageError('mode dynamic and finetune: exclude each other: QAT trains for weight-only forms (mode weight)');
    no('min-output-sqnr', 'the output check would back weights off from the forms that were trained for');
    if (k['output-check'] === true) throw new UsageError('output-check and finetune: (quantization-aware training) exclude each other: the check would back weights off from the forms that were trained for (the step writes output-check: false)');
  }
  try {
    return trainingFromKeys(k.finetune as Keys, base, false);
  } catch (e) {
    if (e instanceof UsageError) throw new NestedKeyError(['finetune'], e.message);
    throw e;
  }
}

function quantizeStep(k: Keys, select: Selection, base: string): QuantizeStep {
  if ((k.method === 'gptq' || k['clip-search'] === true || k['bias-correction'] === true) && k.calib === undefined) {
    throw new UsageError('method gptq, clip-search and bias-correction need calib (the layer-input data)');
  }
  if (k.bits === undefined) throw new UsageError('needs bits (8 or 4), or calib (calibration data) for static int8');
  if (k.symmetric !== undefined && k.asymmetric !== undefined && k.symmetric === k.asymmetric) throw new UsageError('symmetric and asymmetric contradict each other');
  if (k['output-check'] === false && k['min-output-sqnr'] !== undefined) throw new UsageError('min-output-sqnr and output-check: false exclude each other');
  const finetune = qatTraining(k, base, false);
  const options = resolveQuantizeOptions({
    bits: k.bits as QuantizeOptions['bits'],
    mode: k.mode as QuantizeOptions['mode'] | undefined,
    granularity: k.granularity as QuantizeOptions['granularity'] | undefined,
    blockSize: k['block-size'] as number | undefined,
    symmetric: k.asymmetric === true ? false : k.symmetric as boolean | undefined,
    int4Format: k['int4-format'] as QuantizeOptions['int4Format'] | undefined,
    opTypes: k['op-types'] as string[] | undefined,
    minElements: k['min-elements'] as number | undefined,
    tfjsDtype: k['tfjs-dtype'] as QuantizeOptions['tfjsDtype'] | undefined,
    minWeightSqnrDb: k['min-weight-sqnr'] as number | undefined,
    target: k.target as QuantizeOptions['target'] | undefined,
    method: k.method as QuantizeOptions['method'],
    damp: k.damp as number | undefined,
    actOrder: k['act-order'] as boolean | undefined,
    gptqBlock: k['gptq-block'] as number | undefined,
    clipSearch: k['clip-search'] as boolean | undefined,
    biasCorrection: k['bias-correction'] as boolean | undefined,
  });
  return {
    kind: 'quantize', select, options,
    calib: k.calib === undefined ? undefined : pathFrom(base, String(k.calib)),
    calibSamples: k['calib-samples'] as number | undefined,
    batchSize: k['batch-size'] as number | undefined,
    backupBits: (k['backup-bits'] as BackupBits | undefined) ?? defaultBackupBits(select),
    minOutputSqnrDb: k['min-output-sqnr'] as number | undefined,
    outputCheck: k['output-check'] !== false && finetune === undefined,
    verify: k.verify !== false,
    allowPartial: k['allow-partial'] === true,
    finetune,
  };
}

/** A step without layers keeps the embedding and last layer at int8; a step with layers takes what it names at its own bits. */
export function defaultBackupBits(select: Selection): BackupBits {
  return select.layers ? 'none' : 8;
}

function staticStep(k: Keys, select: Selection, base: string): StaticStep {
  if (k.calib === undefined) throw new UsageError('mode static needs calibration data: calib');
  if (k.bits !== undefined && k.bits !== 8) throw new UsageError(`static quantization is int8: bits must be 8, got ${String(k.bits)}`);
  // As with --calib on the command line, granularity tensor is per-tensor weights.
  if (k.granularity === 'block') throw new UsageError('static int8 weights are per channel or per tensor (granularity tensor), not block');
  const preprocess = k.preprocess === undefined ? undefined : String(k.preprocess);
  const s2d = k['space-to-depth'];
  const partial: Partial<StaticQuantizeOptions> = {
    calibrationMethod: k['calib-method'] as CalibrationMethod | undefined,
    percentile: k.percentile as number | undefined,
    samples: k['calib-samples'] as number | undefined,
    batchSize: k['batch-size'] as number | undefined,
    activationType: k['activation-type'] as StaticQuantizeOptions['activationType'] | undefined,
    perTensor: k['per-tensor'] === true || k.granularity === 'tensor',
    opTypes: k['op-types'] as string[] | undefined,
    preprocess: preprocess === undefined ? undefined : parsePreprocess(preprocess),
    spaceToDepthPooling: (s2d === 'on' ? true : s2d === 'off' ? false : s2d) as StaticQuantizeOptions['spaceToDepthPooling'] | undefined,
    target: k.target as StaticQuantizeOptions['target'] | undefined,
    biasCorrection: k['bias-correction'] === true ? true : undefined,
  };
  if (k['small-layers'] !== undefined) partial.smallLayers = k['small-layers'] as StaticQuantizeOptions['smallLayers'];
  const finetune = qatTraining(k, base, true);
  const options = resolveStaticOptions(partial);
  return {
    kind: 'static', select, options, preprocess,
    calib: pathFrom(base, String(k.calib)),
    calibCache: k['calib-cache'] === undefined ? undefined : pathFrom(base, String(k['calib-cache'])),
    allowPartial: k['allow-partial'] === true,
    finetune,
  };
}

/** The step as a recipe writes it, every default filled; paths relative to `base`. */
export function keysOfStep(s: PlanStep, base: string): Keys {
  const body = bodyOf(s, base);
  const out: Keys = { [s.kind === 'prune' || s.kind === 'finetune' ? s.kind : 'quantize']: body };
  if (s.select.layers) out.layers = [...s.select.layers];
  if (s.select.exclude.length) out.exclude = [...s.select.exclude];
  out['allow-empty'] = s.select.allowEmpty;
  return out;
}

function bodyOf(s: PlanStep, base: string): Keys {
  const b: Keys = {};
  const set = (k: string, v: unknown): void => { if (v !== undefined) b[k] = v; };
  if (s.kind === 'prune') {
    const o = s.options;
    set('sparsity', o.sparsity); set('criterion', o.criterion); set('pattern', o.pattern); set('n-m', `${o.nm.n}:${o.nm.m}`);
    set('scope', o.scope); set('min-density', o.minDensity); set('rounds', o.rounds ?? defaultRounds(o)); set('channel-multiple', o.channelMultiple);
    set('data', s.data === undefined ? undefined : pathIn(base, s.data)); set('labels', s.labels === undefined ? undefined : pathIn(base, s.labels));
    const g = s.gradual;
    set('samples', g ? g.settings.samples : s.samples); set('batch-size', s.batchSize);
    if (g) {
      const p = g.settings.prune!;
      set('schedule', 'polynomial'); set('finetune-epochs', g.settings.epochs); set('frequency', p.frequency); set('initial-sparsity', p.initial); set('prune-end', p.end);
      set('teacher', g.teacher === undefined ? undefined : pathIn(base, g.teacher)); set('lr', g.settings.lr); set('loss', g.settings.loss); set('seed', g.settings.seed);
      set('bn-mode', g.settings.bnMode === 'train' ? 'train' : undefined);
    }
  } else if (s.kind === 'finetune') {
    return trainingKeys(s, base);
  } else if (s.kind === 'quantize') {
    const o = s.options;
    set('bits', o.bits); set('mode', o.mode); set('granularity', o.granularity); set('block-size', o.blockSize); set('symmetric', o.symmetric);
    set('int4-format', o.int4Format); set('backup-bits', s.backupBits); set('op-types', o.opTypes ? [...o.opTypes] : undefined); set('min-elements', o.minElements);
    set('tfjs-dtype', o.tfjsDtype); set('min-weight-sqnr', o.minWeightSqnrDb); set('target', o.target);
    set('verify', s.verify); set('output-check', s.outputCheck); set('min-output-sqnr', s.minOutputSqnrDb);
    set('method', o.method); set('damp', o.damp); set('act-order', o.actOrder); set('gptq-block', o.gptqBlock);
    set('clip-search', o.clipSearch); set('bias-correction', o.biasCorrection);
    set('calib', s.calib === undefined ? undefined : pathIn(base, s.calib)); set('calib-samples', s.calibSamples); set('batch-size', s.batchSize);
    set('finetune', s.finetune && trainingKeys(s.finetune, base));
  } else {
    const o = s.options;
    set('calib', pathIn(base, s.calib)); set('calib-cache', s.calibCache === undefined ? undefined : pathIn(base, s.calibCache));
    set('calib-method', o.calibrationMethod); set('percentile', o.percentile); set('calib-samples', o.samples); set('batch-size', o.batchSize);
    set('activation-type', o.activationType); set('per-tensor', o.perTensor); set('space-to-depth', o.spaceToDepthPooling);
    set('small-layers', Array.isArray(o.smallLayers) ? [...o.smallLayers] : o.smallLayers);
    set('target', o.target); set('op-types', o.opTypes ? [...o.opTypes] : undefined); set('preprocess', s.preprocess);
    if (o.biasCorrection) { set('mode', 'static'); set('bias-correction', true); }
    set('finetune', s.finetune && trainingKeys(s.finetune, base));
  }
  set('allow-partial', s.allowPartial);
  return b;
}

/** A finetune step's keys, or a quantize step's `finetune:` map: every default filled, paths relative to `base`. */
function trainingKeys(t: StepTraining, base: string): Keys {
  const b: Keys = {};
  const set = (k: string, v: unknown): void => { if (v !== undefined) b[k] = v; };
  const o = t.settings;
  const rel = (p: string | undefined): string | undefined => (p === undefined ? undefined : pathIn(base, p));
  set('data', rel(t.data)); set('labels', rel(t.labels)); set('teacher', rel(t.teacher)); set('val-data', rel(t.valData)); set('val-labels', rel(t.valLabels));
  set('loss', o.loss); set('temperature', o.temperature); set('alpha', o.alpha); set('epochs', o.epochs); set('batch-size', o.batchSize); set('samples', o.samples);
  set('optimizer', o.optimizer.kind); set('momentum', o.optimizer.momentum); set('weight-decay', o.optimizer.weightDecay);
  set('lr', o.lr); set('schedule', o.schedule); set('warmup', o.warmup); set('early-stop', o.earlyStop); set('seed', o.seed); set('bn-recalibrate', o.bnRecalibrate === true); set('bn-mode', o.bnMode === 'train' ? 'train' : undefined);
  if (o.prune) {
    set('prune-to', o.prune.final); set('initial-sparsity', o.prune.initial); set('prune-frequency', o.prune.frequency); set('prune-end', o.prune.end);
    set('scope', o.prune.scope); set('min-density', o.prune.minDensity);
  }
  return b;
}
