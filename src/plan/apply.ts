/**
 * applyPlan: carries a plan out on one model in memory, the one path behind
 * `mc apply`, `mc quantize` and `mc prune`.
 *
 *   lift Constant weights → prune steps (in order) → finetune steps (training; the
 *   default teacher is the model as the plan was given) → the weight-quantize steps,
 *   compiled into ONE quantize pass → the static step → stamp the recipe.
 *
 * Which weights each step takes is decided first, against the lifted model
 * (select.ts), so a bad pattern fails before anything runs. Several quantize
 * steps (mixed precision) become one pass: the first step's settings are the
 * run's, every weight another step takes gets that step's settings as a
 * per-weight override (passes/quantize/options.ts optionsFor), and every
 * weight no step takes is excluded, so it stays as it is.
 *
 * A static (calib) step quantizes activations of the whole graph it covers and
 * reads float weights; it does not combine with weight-only steps (refused with
 * an error naming both steps). It may follow prune steps.
 *
 * A quantize or static step with `finetune:` is quantization-aware training for
 * that step's forms and weights: the engine of `mc finetune --qat` (finetuneModel
 * with settings.qat / qatStatic) trains and then writes them. It is the plan's only
 * quantize step (its one pass is what training fake-quantized), ONNX only.
 */
import { minimatch } from 'minimatch';
import { UsageError, IncompleteError } from '../errors';
import type { LiftReport } from '../graph/lift-constants';
import { defaultOpRegistry, type Model } from '../ir';
import type { PruneChanges } from '../passes/prune';
import { findTargets } from '../passes/prune';
import { resolveQuantizeOptions, type QuantizeOptions, type WeightOverride } from '../passes/quantize/options';
import type { BackupBits, BackupPolicy } from '../passes/quantize/backup';
import type { QuantizeReport, SkippedTensor } from '../passes/quantize/report';
import { selectWeights } from '../passes/quantize/select';
import type { StaticDecisions, StaticQuantizeOptions, StaticQuantizeResult } from '../passes/quantize/static';
import { loadModel } from '../formats';
import type { FitResult } from '../train';
import { finetuneModel, type FinetuneModelResult, type FinetuneSettings } from '../pipeline/finetune';
import { pruneModel } from '../pipeline/prune';
import { liftWeights, quantizeModel } from '../pipeline/quantize';
import type { WeightStream } from '../pipeline/weight-stream';
import type { ReconstructDataOptions, ReconstructReport } from '../pipeline/reconstruct';
import { quantizeStaticModel, type StatisticsMemory } from '../pipeline/static';
import { outputCheckFor, type OutputCheckOptions, type OutputCheckReport } from '../pipeline/verify-outputs';
import { VERSION } from '../version';
import { canonicalRecipe, type CanonicalRecipe } from './canonical';
import { allGlobs, resolveFamily, type Candidate, type FamilyStep } from './select';
import type { FinetuneStep, Plan, PlanStep, PruneStep, QuantizeStep, StaticStep } from './types';

export interface ApplyContext {
  /** Names the model in errors (its path). */
  label: string;
  progress?: (message: string) => void;
  /** Calibration statistics shared by the static steps of many applyPlan calls (a search): see StatisticsMemory. */
  statistics?: StatisticsMemory;
  /** Weight-only quantization on worker threads with built tensors parked on disk (pipeline/weight-stream.ts). */
  weightStream?: WeightStream;
}

export type StepResult =
  /** training: the fine-tuning of a gradual (schedule polynomial) prune step. */
  | { kind: 'prune'; step: number; report: PruneChanges; saliencyLoss?: 'cross-entropy' | 'fisher'; training?: FitResult; notes: string[] }
  /** report: the sparsity the step ended at, when it pruned gradually (settings.prune). */
  | { kind: 'finetune'; step: number; training: FitResult; samples: number; engine: string; report?: PruneChanges; notes: string[] }
  /** training: the step's `finetune:` (QAT) trained the weights before they were written. */
  | { kind: 'quantize'; steps: number[]; report: QuantizeReport; outputCheck?: OutputCheckReport; reconstruct?: ReconstructReport; training?: QatTraining }
  | { kind: 'static'; step: number; report: StaticQuantizeResult; training?: QatTraining };

/** What a quantize or static step's `finetune:` (quantization-aware training) did. */
export interface QatTraining {
  training: FitResult;
  samples: number;
  engine: string;
  notes: string[];
  /** The QAT settings as mc finetune --qat records them (bits, forms, the fake-quantized weights). */
  qat?: Record<string, unknown>;
}

/** One weight of the model: which steps took it and the form it ended in. */
export interface WeightForm {
  name: string;
  /** `steps[1]`, `steps[0] + steps[2]`, or '' when no step took it. */
  steps: string;
  /** e.g. 'int4 block 32 (MatMulNBits int4 block=32)', 'pruned 50.0% + int8 channel (...)', 'float'. */
  form: string;
}

export interface PlanReport {
  lifted: LiftReport;
  results: StepResult[];
  forms: WeightForm[];
  recipe: CanonicalRecipe;
  /**
   * The plan as carried out: what mc decided by measuring (a static step's small layers and
   * space-to-depth) is pinned to what it decided, so this plan gives the same model again.
   * The recorded recipe and --recipe-out are this plan.
   */
  plan: Plan;
  notes: string[];
}

/**
 * Applies `plan` to `model` in place. Constant weights are lifted first; a plan that does not
 * fit the model (a pattern that matches nothing, two steps on one weight) throws before any step runs.
 */
export async function applyPlan(model: Model, plan: Plan, ctx: ApplyContext): Promise<PlanReport> {
  const progress = ctx.progress ?? (() => {});
  checkOrder(plan, model);
  const lifted = liftWeights(model, progress);
  const idx = <K extends PlanStep['kind']>(kind: K): number[] => plan.steps.flatMap((s, i) => (s.kind === kind ? [i] : []));
  const pruneIdx = idx('prune');
  const finetuneIdx = idx('finetune');
  const weightIdx = idx('quantize');
  const staticIdx = idx('static');
  const family = (is: number[], opTypes = false): FamilyStep[] => is.map((i) => ({
    index: i, select: plan.steps[i].select, source: plan.sources[i],
    opTypes: opTypes ? (plan.steps[i] as QuantizeStep).options.opTypes : undefined,
  }));
  const pruneCands = pruneCandidates(model);
  const weightCands = weightCandidates(model);
  const pruneTakes = resolveFamily(family(pruneIdx), pruneCands, 'prune');
  const weightTakes = resolveFamily(family(weightIdx, true), weightCands, 'quantize');
  const staticTakes = resolveFamily(family(staticIdx), nodeCandidates(model), 'quantize');

  const results: StepResult[] = [];
  const notes: string[] = [];
  let done = plan;
  // The model as the plan was given (a copy-on-write clone): what finetune steps and gradual pruning distil from by default.
  // A QAT step that comes first distils from the model as it stands, which is the model as given: finetuneModel's
  // own default (the executor's weights before training), the teacher `mc finetune --qat` uses, so the bytes agree.
  const qatAfterOthers = (i: number, s: PlanStep): boolean => (s.kind === 'quantize' || s.kind === 'static') && s.finetune !== undefined && s.finetune.teacher === undefined && i > 0;
  const needsAsGiven = plan.steps.some((s, i) => (s.kind === 'finetune' && s.teacher === undefined) || (s.kind === 'prune' && s.gradual && s.gradual.teacher === undefined) || qatAfterOthers(i, s));
  const asGiven = needsAsGiven ? model.clone() : null;
  const train = async (i: number, settings: FinetuneSettings, d: { data: string; labels?: string; teacher?: string; valData?: string; valLabels?: string }, allowPartial?: boolean) => {
    const key = plan.sources[i].key;
    const qat = settings.qat !== undefined || settings.qatStatic !== undefined;
    progress(`${key}: training`);
    return finetuneModel(model, {
      data: d.data, labels: d.labels, valData: d.valData, valLabels: d.valLabels, settings, allowPartial,
      teacher: d.teacher !== undefined ? loadModel(d.teacher) : qat && i === 0 ? undefined : asGiven!, teacherLabel: d.teacher ?? ctx.label,
      progress: (m) => progress(`${key}: ${m}`),
      onStep: (t) => progress(`${key}: epoch ${t.epoch + 1}/${settings.epochs} step ${t.step}/${t.stepsPerEpoch} loss ${t.loss.toFixed(4)} lr ${t.lr.toExponential(2)} ETA ${Math.ceil(t.etaSeconds)} s`),
    });
  };
  for (const i of pruneIdx) {
    const s = plan.steps[i] as PruneStep;
    if (s.gradual) {
      const r = await train(i, s.gradual.settings, { data: s.data!, labels: s.labels, teacher: s.gradual.teacher });
      notes.push(...r.notes);
      results.push({ kind: 'prune', step: i, report: gradualReport(model, s.gradual.settings), training: r.training, notes: r.notes });
      continue;
    }
    const only = pruneIdx.length === 1 && passThrough(s);
    const exclude = only ? [...s.select.exclude] : untaken(pruneCands, pruneTakes.get(i)!);
    progress(`${plan.sources[i].key}: pruning`);
    const r = await pruneModel(model, { ...s.options, exclude }, { label: ctx.label, data: s.data, labels: s.labels, samples: s.samples, batchSize: s.batchSize, allowPartial: s.allowPartial, progress });
    notes.push(...r.notes);
    results.push({ kind: 'prune', step: i, report: r.report, saliencyLoss: r.saliencyLoss, notes: r.notes });
  }
  for (const i of finetuneIdx) {
    const s = plan.steps[i] as FinetuneStep;
    const r = await train(i, s.settings, s);
    notes.push(...r.notes);
    const report = s.settings.prune ? gradualReport(model, s.settings) : undefined;
    results.push({ kind: 'finetune', step: i, training: r.training, samples: r.samples, engine: r.engine, report, notes: r.notes });
  }
  const qatStep = weightIdx.length === 1 ? (plan.steps[weightIdx[0]] as QuantizeStep) : undefined;
  if (qatStep?.finetune) {
    const i = weightIdx[0];
    // Exactly this step's weights and forms: its exclude (or every weight its layers do not take) and its backup precision.
    const exclude = passThrough(qatStep) ? [...qatStep.select.exclude] : untaken(weightCands, weightTakes.get(i)!);
    const r = await train(i, { ...qatStep.finetune.settings, qat: { quantize: { ...qatStep.options, exclude }, backupBits: qatStep.backupBits } }, qatStep.finetune, qatStep.allowPartial);
    notes.push(...r.notes);
    results.push({ kind: 'quantize', steps: weightIdx, report: r.quantize!, training: qatTraining(r) });
  } else if (weightIdx.length) {
    const { options, check, allowPartial, backup, reconstruct } = compileQuantize(plan, weightIdx, weightTakes, weightCands);
    // The output check quantizes clones of the model as it stands here (after any prune step).
    const r = await quantizeModel(model, options, { label: ctx.label, check, allowPartial, progress, backup, reconstruct, stream: ctx.weightStream });
    results.push({ kind: 'quantize', steps: weightIdx, report: r.report, outputCheck: r.outputCheck, reconstruct: r.reconstruct });
  }
  for (const i of staticIdx) {
    const s = plan.steps[i] as StaticStep;
    const exclude = passThrough(s) ? [...s.select.exclude] : untaken(nodeCandidates(model), staticTakes.get(i)!);
    let report: StaticQuantizeResult;
    let training: QatTraining | undefined;
    if (s.finetune) {
      const r = await train(i, { ...s.finetune.settings, qatStatic: { calib: s.calib, options: { ...s.options, exclude } } }, s.finetune);
      notes.push(...r.notes);
      const c = r.staticCalibration!;
      report = {
        ...r.staticQuantize!, spaceToDepthSkipped: [],
        calibration: { method: s.options.calibrationMethod, samples: c.samples, batches: Math.ceil(c.samples / c.batchSize), batchSize: c.batchSize, seconds: c.seconds },
      };
      training = qatTraining(r);
      // The small-layer decision was made once before training (measured, or as asked): the plan as carried out pins it.
      const steps = [...done.steps];
      steps[i] = { ...s, options: { ...s.options, smallLayers: c.smallLayers.length ? [...c.smallLayers] : 'int8' } };
      done = { ...done, steps };
    } else {
      report = await quantizeStaticModel(model, { ...s.options, exclude }, { data: s.calib, cache: s.calibCache, memory: ctx.statistics }, { toolVersion: VERSION, progress });
      if (report.decisions) done = pinDecisions(done, i, report.decisions);
    }
    if (report.quantizedNodes.length === 0) {
      const summary = `static int8${s.finetune ? ' QAT' : ''} quantized no node (${report.skipped.length} left in float)`;
      if (!s.allowPartial) throw new IncompleteError(`${ctx.label}: ${summary}; nothing written (--allow-partial writes it anyway)`, report.skipped.map((k) => `${k.node} (${k.opType}): ${k.reason}`));
      report.warnings.push(`partial: ${summary}`);
    }
    results.push(training ? { kind: 'static', step: i, report, training } : { kind: 'static', step: i, report });
  }
  const recipe = canonicalRecipe(done);
  stampRecipe(model, recipe);
  return { lifted, results, forms: formsOf(weightCands, results, weightTakes), recipe, plan: done, notes };
}

function qatTraining(r: FinetuneModelResult): QatTraining {
  return { training: r.training, samples: r.samples, engine: r.engine, notes: r.notes, qat: r.qat };
}

/** What a gradual finetune step left: each pruned layer's zeros, as the one-shot prune report gives them. */
function gradualReport(model: Model, s: FinetuneSettings): PruneChanges {
  const p = s.prune!;
  const { targets, skipped } = findTargets(model, []);
  const layers = targets.map((t) => {
    const w = t.value.const!.toFloat32();
    let zeros = 0;
    for (let k = 0; k < w.length; k++) if (w[k] === 0) zeros++;
    const shape = [...t.value.const!.shape];
    return { layer: t.layer, weight: t.value.name, op: t.node.opType, shape, newShape: shape, params: w.length, zeros, sparsity: w.length ? zeros / w.length : 0 };
  });
  const params = layers.reduce((a, l) => a + l.params, 0);
  const zeros = layers.reduce((a, l) => a + l.zeros, 0);
  return { criterion: 'magnitude', pattern: 'unstructured', scope: p.scope ?? 'global', targetSparsity: p.final, layers, skipped, globalSparsity: params ? zeros / params : 0 };
}

/** Prune steps, then finetune steps, then weight-quantize steps, then at most one static step, which takes no weight-quantize step beside it. */
function checkOrder(plan: Plan, model: Model): void {
  const rank = { prune: 0, finetune: 1, quantize: 2, static: 3 } as const;
  let prev = -1;
  plan.steps.forEach((s, i) => {
    const src = plan.sources[i];
    if (rank[s.kind] < prev) throw new UsageError(`${src.where}: ${src.key}: steps run in the order prune, finetune, quantize (weight-only/dynamic), static; move it up`);
    prev = rank[s.kind];
  });
  const statics = plan.steps.flatMap((s, i) => (s.kind === 'static' ? [i] : []));
  const weights = plan.steps.flatMap((s, i) => (s.kind === 'quantize' ? [i] : []));
  if (statics.length > 1) throw new UsageError(`${plan.sources[statics[1]].where}: ${plan.sources[statics[1]].key}: a recipe has at most one static (calib) step: calibration is one pass over the data`);
  if (statics.length && weights.length) {
    const s = plan.sources[statics[0]];
    throw new UsageError(`${s.where}: ${s.key}: a static (calib) step does not combine with weight-only/dynamic steps (${plan.sources[weights[0]].key}): static int8 reads float weights; keep one kind, or give the static step layers/exclude and drop the other`);
  }
  if (statics.length && model.format !== 'onnx') {
    const s = plan.sources[statics[0]];
    throw new UsageError(`${s.where}: ${s.key}: static quantization (calib) needs an ONNX model: tfjs has no int8 kernels`);
  }
  checkQat(plan, model, weights);
}

/** Quantization-aware training (a step's finetune:) trains for one quantize pass, on an ONNX model. */
function checkQat(plan: Plan, model: Model, weights: readonly number[]): void {
  const qat = plan.steps.flatMap((s, i) => ((s.kind === 'quantize' || s.kind === 'static') && s.finetune ? [i] : []));
  if (!qat.length) return;
  const at = (i: number): string => `${plan.sources[i].where}: ${plan.sources[i].key}`;
  if (qat.length > 1) throw new UsageError(`${at(qat[1])}: a recipe has at most one step with finetune: (quantization-aware training; ${plan.sources[qat[0]].key} has one): training fake-quantizes one quantize pass`);
  if (model.format !== 'onnx') throw new UsageError(`${at(qat[0])}: finetune: (quantization-aware training) needs an ONNX model: the trained forms are ONNX's DequantizeLinear / MatMulNBits / QDQ; convert the model first`);
  const other = weights.find((i) => i !== qat[0]);
  if (plan.steps[qat[0]].kind === 'quantize' && other !== undefined) {
    throw new UsageError(`${at(qat[0])}: a quantize step with finetune: (quantization-aware training) is the recipe's only quantize step (${plan.sources[other].key} is another): training fake-quantizes exactly its forms, and one pass writes them`);
  }
}

/** A step the pass can take as it is: no layers, and globs only in exclude (the passes match globs themselves). */
function passThrough(s: PlanStep): boolean {
  return !s.select.layers && allGlobs(s.select.exclude);
}

/** Exact globs for every candidate a step does not take. */
function untaken(cands: readonly Candidate[], taken: readonly string[]): string[] {
  const t = new Set(taken);
  return [...new Set(cands.filter((c) => !t.has(c.name)).map((c) => minimatch.escape(c.name)))];
}

/**
 * One quantize pass for every weight-quantize step. A lone step without layers runs as the
 * flags ask (its exclude and op-types go to the pass as they are); otherwise the first step's
 * settings are the run's and each weight gets its own step's through an override.
 */
function compileQuantize(plan: Plan, is: number[], takes: Map<number, string[]>, cands: readonly Candidate[]): {
  options: QuantizeOptions; check?: OutputCheckOptions; allowPartial: boolean; backup: BackupPolicy; reconstruct?: ReconstructDataOptions;
} {
  const steps = is.map((i) => plan.steps[i] as QuantizeStep);
  const first = steps[0];
  const reconstruct = reconstructData(plan, is);
  const given = (s: QuantizeStep): OutputCheckOptions | false => (s.outputCheck
    ? { minOutputSqnrDb: s.minOutputSqnrDb, minAgreement: plan.eval?.budgets.minAgreement, data: plan.eval?.data, required: s.minOutputSqnrDb !== undefined }
    : false);
  if (steps.length === 1 && passThrough(first)) {
    const options = { ...first.options, exclude: [...first.select.exclude] };
    return { options, check: outputCheckFor(options, given(first)), allowPartial: first.allowPartial, backup: { bits: first.backupBits }, reconstruct };
  }
  for (const [j, s] of steps.entries()) {
    if (s.outputCheck !== first.outputCheck || s.minOutputSqnrDb !== first.minOutputSqnrDb) {
      const src = plan.sources[is[j]];
      throw new UsageError(`${src.where}: ${src.key}: output-check and min-output-sqnr must be the same in every quantize step (${plan.sources[is[0]].key} differs): the check runs once, on the whole quantized model`);
    }
  }
  const overrides = new Map<string, WeightOverride>();
  is.forEach((i, j) => {
    const o = steps[j].options;
    for (const name of takes.get(i)!) {
      overrides.set(name, {
        bits: o.bits, mode: o.mode, granularity: o.granularity, blockSize: o.blockSize, symmetric: o.symmetric, int4Format: o.int4Format,
        minElements: o.minElements, minWeightSqnrDb: o.minWeightSqnrDb, target: o.target, tfjsDtype: o.tfjsDtype === 'auto' ? undefined : o.tfjsDtype,
        method: o.method ?? 'rtn', damp: o.damp, actOrder: o.actOrder ?? false, gptqBlock: o.gptqBlock, clipSearch: o.clipSearch ?? false, biasCorrection: o.biasCorrection ?? false,
        reason: plan.sources[i].key,
      });
    }
  });
  const taken = [...takes.values()].flat();
  const options = resolveQuantizeOptions({ ...first.options, exclude: untaken(cands, taken), opTypes: undefined, overrides });
  // Several steps set each weight's form on purpose: the check measures it, and bounds it only where asked.
  const g = given(first);
  const check = g === false ? undefined : { ...g, minOutputSqnrDb: first.minOutputSqnrDb };
  // Each weight's backup is its own step's (a step with layers defaults to none: what it names takes its bits).
  const perWeight = new Map<string, BackupBits>(is.flatMap((i, j) => takes.get(i)!.map((name) => [name, steps[j].backupBits] as [string, BackupBits])));
  return { options, check, allowPartial: steps.every((s) => s.allowPartial), backup: { bits: 'none', perWeight }, reconstruct };
}

/** The layer-input data of the weight steps that reconstruct (GPTQ, clip search, bias correction): one set for the one pass. */
function reconstructData(plan: Plan, is: number[]): ReconstructDataOptions | undefined {
  const withData = is.filter((i) => (plan.steps[i] as QuantizeStep).calib !== undefined);
  if (!withData.length) return undefined;
  const s0 = plan.steps[withData[0]] as QuantizeStep;
  for (const i of withData) {
    const s = plan.steps[i] as QuantizeStep;
    if (s.calib !== s0.calib || s.calibSamples !== s0.calibSamples || s.batchSize !== s0.batchSize) {
      const src = plan.sources[i];
      throw new UsageError(`${src.where}: ${src.key}: calib, calib-samples and batch-size must be the same in every reconstructing quantize step (${plan.sources[withData[0]].key} differs): the layer inputs are collected in one schedule`);
    }
  }
  return { data: s0.calib!, samples: s0.calibSamples, batchSize: s0.batchSize };
}

/** `plan` with static step `i`'s measured decisions replaced by the values that pin them. */
function pinDecisions(plan: Plan, i: number, d: StaticDecisions): Plan {
  const s = plan.steps[i] as StaticStep;
  const small = d.smallLayers.pin.trim();
  const smallLayers: StaticQuantizeOptions['smallLayers'] = small === 'measure' || small === 'int8' ? small : small.split(',').map((x) => x.trim()).filter(Boolean);
  const s2d = d.spaceToDepth.pin;
  const spaceToDepthPooling: StaticQuantizeOptions['spaceToDepthPooling'] = s2d === 'on' ? true : s2d === 'off' ? false : s.options.spaceToDepthPooling;
  const steps = [...plan.steps];
  steps[i] = { ...s, options: { ...s.options, smallLayers, spaceToDepthPooling } };
  return { ...plan, steps };
}

function pruneCandidates(model: Model): Candidate[] {
  return findTargets(model, []).targets.map((t) => ({ name: t.value.name, aliases: [t.layer], ops: [t.node.opType] }));
}

/** Every weight the quantize pass could take under the most permissive settings, and the ones it never could. */
function weightCandidates(model: Model): Candidate[] {
  const skipped: SkippedTensor[] = [];
  const opts = resolveQuantizeOptions({ bits: 4, granularity: 'tensor' });
  const out: Candidate[] = [];
  for (const [v, sel] of selectWeights(model, defaultOpRegistry, opts, skipped)) {
    out.push({ name: v.name, aliases: sel.consumers.map((c) => c.node.name), ops: [...new Set(sel.consumers.map((c) => c.node.opType))] });
  }
  for (const s of skipped) out.push({ name: s.name, aliases: [], ops: [] });
  return out;
}

/** Static steps select nodes: by the node's name or the names of the weights it reads. */
function nodeCandidates(model: Model): Candidate[] {
  return model.graph.nodes.filter((n) => n.name !== '').map((n) => ({
    name: n.name, aliases: n.inputs.filter((v) => v?.const).map((v) => v!.name), ops: [n.opType],
  }));
}

function stampRecipe(model: Model, r: CanonicalRecipe): void {
  if (model.format === 'onnx') {
    model.setMetadata('mc.recipe', r.json);
    model.setMetadata('mc.recipe.sha256', r.sha256);
  } else {
    model.userMetadata = { ...(model.userMetadata ?? {}), 'mc.recipe': JSON.parse(r.json) as unknown, 'mc.recipe.sha256': r.sha256 };
  }
}

function formsOf(cands: readonly Candidate[], results: readonly StepResult[], weightTakes: Map<number, string[]>): WeightForm[] {
  const rows = new Map<string, { steps: string[]; forms: string[] }>();
  const row = (name: string): { steps: string[]; forms: string[] } => {
    let r = rows.get(name);
    if (!r) rows.set(name, (r = { steps: [], forms: [] }));
    return r;
  };
  for (const c of cands) row(c.name);
  for (const res of results) {
    if (res.kind === 'prune' || res.kind === 'finetune') {
      for (const l of res.report?.layers ?? []) {
        const r = row(l.weight);
        r.steps.push(`steps[${res.step}]`);
        r.forms.push(`pruned ${(l.sparsity * 100).toFixed(1)}%`);
      }
    } else if (res.kind === 'quantize') {
      for (const t of res.report.tensors) {
        const r = row(t.name);
        const step = res.steps.find((i) => weightTakes.get(i)!.includes(t.name)) ?? res.steps[0];
        if (!r.steps.includes(`steps[${step}]`)) r.steps.push(`steps[${step}]`);
        const shape = t.granularity === 'block' ? `block ${t.blockSize}` : t.granularity;
        // tfjs rows name their storage (uint8, 16 levels in uint8, uint16, float16) in the form itself.
        r.forms.push(t.form.startsWith('tfjs') ? t.form : `int${t.bits} ${shape} (${t.form})`);
      }
    } else {
      for (const t of res.report.weights) {
        const r = row(t.name);
        r.steps.push(`steps[${res.step}]`);
        r.forms.push(`int${t.bits} ${t.granularity} static (${t.form})`);
      }
    }
  }
  return [...rows].map(([name, r]) => ({ name, steps: r.steps.join(' + '), form: r.forms.length ? r.forms.join(' + ') : 'float' }));
}

