/**
 * A plan: what mc does to which weights of one model, in order. A recipe file
 * (read.ts) and the flags of `mc quantize` / `mc prune` (the commands' parse
 * step) both build one; apply.ts is the only code that carries one out.
 * Options are the passes' own typed options: a plan adds only which weights
 * each step takes.
 */
import type { Budgets } from '../eval/types';
import type { PruneOptions } from '../passes/prune';
import type { QuantizeOptions } from '../passes/quantize/options';
import type { BackupBits } from '../passes/quantize/backup';
import type { StaticQuantizeOptions } from '../passes/quantize/static';
import type { FinetuneSettings } from '../pipeline/finetune';

/** Which weights a step takes: patterns are minimatch globs or /regex/ on the weight or node name. */
export interface Selection {
  /** undefined: every weight no earlier step of the same kind took. */
  layers?: string[];
  exclude: string[];
  /** A pattern that matches no weight is not an error. */
  allowEmpty: boolean;
}

export interface PruneStep {
  kind: 'prune';
  select: Selection;
  options: PruneOptions;
  /** Saliency: input samples and their labels (paths as the plan's user gave them, relative to the working directory). */
  data?: string;
  labels?: string;
  samples: number;
  batchSize: number;
  allowPartial: boolean;
  /**
   * schedule polynomial: gradual magnitude pruning while fine-tuning on `data` (Zhu & Gupta 2017;
   * settings.prune holds the schedule, `teacher` the model to distil from, default the model as
   * the plan was given). Absent: one-shot.
   */
  gradual?: { settings: FinetuneSettings; teacher?: string };
}

export interface QuantizeStep {
  kind: 'quantize';
  select: Selection;
  /** The step's settings; its exclude/opTypes are set by the plan's selection, not here (see apply.ts). */
  options: QuantizeOptions;
  /** The output check: undefined = the default for the options, a number = that bound in dB, false = off. */
  minOutputSqnrDb?: number;
  outputCheck: boolean;
  /**
   * Backup precision of the embedding and last-layer weights this step takes (passes/quantize/backup.ts):
   * default 8 in a step without layers, 'none' in a step with layers (a weight a step names takes its bits).
   */
  backupBits: BackupBits;
  /** Open the ONNX result in onnxruntime before writing. */
  verify: boolean;
  allowPartial: boolean;
  /** Layer-input data for options.method gptq / clipSearch / biasCorrection (pipeline/reconstruct.ts), as a path from the working directory. */
  calib?: string;
  calibSamples?: number;
  batchSize?: number;
  /**
   * `finetune:`: quantization-aware training for exactly this step's forms and weights
   * (`mc finetune --qat`): the weights it takes are fake-quantized while training, then
   * written by the quantize pass. No output check (a back-off would change the trained forms).
   */
  finetune?: StepTraining;
}

export interface StaticStep {
  kind: 'static';
  select: Selection;
  options: StaticQuantizeOptions;
  calib: string;
  calibCache?: string;
  /** The `preprocess` spec as written (size=28x28,layout=nchw,...); options.preprocess is its parse. */
  preprocess?: string;
  allowPartial: boolean;
  /**
   * `finetune:`: static int8 QAT (`mc finetune --qat --calib`): the float model is calibrated on
   * `calib`, weights and activations are fake-quantized on that grid while training, and the
   * static QDQ pass writes the trained model with the same ranges.
   */
  finetune?: StepTraining;
}

/**
 * Training the weights (pipeline/finetune.ts): distillation from the model as the plan was
 * given (or `teacher`), cross-entropy on labels, or both; pruned zeros stay zero. With
 * settings.prune it is gradual magnitude pruning (`mc prune --schedule polynomial`).
 * Paths are from the working directory. It trains every trainable weight: no layers/exclude.
 */
export interface FinetuneStep {
  kind: 'finetune';
  select: Selection;
  settings: FinetuneSettings;
  data: string;
  labels?: string;
  teacher?: string;
  valData?: string;
  valLabels?: string;
}

/** What a step trains on and how: a finetune step's training keys, as a quantize or static step's `finetune:` (QAT). */
export type StepTraining = Omit<FinetuneStep, 'kind' | 'select'>;

export type PlanStep = PruneStep | FinetuneStep | QuantizeStep | StaticStep;

/** Where each step and each of its patterns sits in the recipe, for errors found against the model. */
export interface StepSource {
  /** `mc.yaml:7` or `command line`. */
  where: string;
  /** `steps[1].quantize` or `--exclude`. */
  key: string;
  /** Per pattern of `select.layers` / `select.exclude`: where it is written (`mc.yaml:9`). */
  layersAt?: string[];
  excludeAt?: string[];
}

/** The recipe's `eval:`: the same gate as `mc quantize --eval-data` (src/cli/eval-gate.ts EvalGate). */
export interface PlanEval {
  data: string;
  labels?: string;
  budgets: Budgets;
}

export interface Plan {
  /** The recipe's model (resolved against its folder); the command line's model wins. */
  model?: string;
  steps: PlanStep[];
  /** Evaluate the output against the input after writing, and gate on the budgets. */
  eval?: PlanEval;
  /** The folder paths are written relative to in the canonical recipe (the recipe's folder, or the working directory). */
  baseDir: string;
  /** Per step: where it came from (same order as steps). */
  sources: StepSource[];
}
