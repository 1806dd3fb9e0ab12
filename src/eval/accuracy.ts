import { InputError, UsageError } from '../errors';
import type { HostTensor } from '../runtime';
import type { AccuracyReport, MetricName } from './types';
import { argmaxRow, integersOf, isIntegerDType, numbersOf } from './tensor-view';

/** Elements per sample of a [N, ...] shape. */
function perSample(shape: readonly number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * Picks the metric from the first output's shape and the labels:
 *  - integer labels [N] and scores [N, C] (any size-1 middle axes) → top1 (top5 reported too when C ≥ 5);
 *  - integer labels [N, T] and logits [N, T, V] → perplexity;
 *  - float labels with as many elements per sample as the output → mse.
 */
export function pickMetric(outputShape: readonly number[], labelDType: string, labelShape: readonly number[], labelsFile: string): MetricName {
  if (isIntegerDType(labelDType)) {
    if (labelShape.length === 1 && outputShape.length >= 2) return 'top1';
    if (labelShape.length === 2 && outputShape.length === 3) return 'perplexity';
  } else if (perSample(outputShape) === perSample(labelShape)) {
    return 'mse';
  }
  throw new InputError(
    `cannot tell which metric fits labels ${labelDType}${JSON.stringify(labelShape)} and model output ${JSON.stringify(outputShape)}; pass --metric`,
    labelsFile,
  );
}

/** Streams one metric over batches; holds only running sums. */
export class AccuracyAccumulator {
  private samples = 0;
  private top1 = 0;
  private top5 = 0;
  private classes = 0;
  /** Perplexity: Σ NLL and token count. MSE: Σ squared error and element count. */
  private sum = 0;
  private n = 0;

  constructor(readonly metric: MetricName, readonly output: string) {}

  /** `out` is the model's output for samples [start, start+count); `labels` the matching label slice. */
  add(out: HostTensor, labels: HostTensor): void {
    const count = out.shape[0];
    switch (this.metric) {
      case 'top1':
      case 'top5':
        this.addClassification(out, labels, count);
        break;
      case 'perplexity':
        this.addPerplexity(out, labels);
        break;
      case 'mse':
        this.addMse(out, labels);
        break;
    }
    this.samples += count;
  }

  private addClassification(out: HostTensor, labels: HostTensor, count: number): void {
    const c = perSample(out.shape);
    if (labels.shape.length !== 1 || !isIntegerDType(labels.dtype)) {
      throw new UsageError(`--metric ${this.metric} needs integer class labels [N], got ${labels.dtype}${JSON.stringify(labels.shape)}`);
    }
    this.classes = c;
    const x = numbersOf(out);
    const y = integersOf(labels);
    for (let r = 0; r < count; r++) {
      const label = y[r];
      if (label < 0 || label >= c || !Number.isInteger(label)) throw new UsageError(`label ${label} of sample is outside the model's ${c} classes`);
      if (argmaxRow(x, r, c) === label) this.top1++;
      // Rank of the label under a stable descending sort: larger scores, then equal scores at lower indices.
      const base = r * c;
      const s = x[base + label];
      let rank = 0;
      for (let j = 0; j < c && rank < 5; j++) {
        const v = x[base + j];
        if (v > s || (v === s && j < label)) rank++;
      }
      if (rank < 5) this.top5++;
    }
  }

  /**
   * Token NLL = logsumexp(z) − z[label], with logsumexp(z) = m + log Σ exp(z − m), m = max z,
   * so no exp overflows (the standard stable form). Perplexity = exp(mean NLL) over
   * tokens; labels below 0 (the usual ignore index, −100) are skipped.
   */
  private addPerplexity(out: HostTensor, labels: HostTensor): void {
    const [n, t, v] = out.shape;
    if (labels.shape.length !== 2 || labels.shape[0] !== n || labels.shape[1] !== t) {
      throw new UsageError(`perplexity needs labels [N, T] matching logits ${JSON.stringify(out.shape)}, got ${JSON.stringify(labels.shape)}`);
    }
    const x = numbersOf(out);
    const y = integersOf(labels);
    for (let row = 0; row < n * t; row++) {
      const label = y[row];
      if (label < 0) continue;
      if (label >= v) throw new UsageError(`token label ${label} is outside the vocabulary of ${v}`);
      const base = row * v;
      let m = -Infinity;
      for (let j = 0; j < v; j++) if (x[base + j] > m) m = x[base + j];
      let s = 0;
      for (let j = 0; j < v; j++) s += Math.exp(x[base + j] - m);
      this.sum += m + Math.log(s) - x[base + label];
      this.n++;
    }
  }

  private addMse(out: HostTensor, labels: HostTensor): void {
    const x = numbersOf(out);
    const y = numbersOf(labels);
    if (x.length !== y.length) {
      throw new UsageError(`mse needs one label per output element: output ${JSON.stringify(out.shape)}, labels ${JSON.stringify(labels.shape)}`);
    }
    for (let i = 0; i < x.length; i++) {
      const d = x[i] - y[i];
      this.sum += d * d;
    }
    this.n += x.length;
  }

  report(): AccuracyReport {
    const cls = this.metric === 'top1' || this.metric === 'top5';
    return {
      metric: this.metric,
      samples: this.samples,
      top1: cls ? this.top1 / this.samples : null,
      top5: cls && this.classes >= 5 ? this.top5 / this.samples : null,
      perplexity: this.metric === 'perplexity' ? Math.exp(this.sum / this.n) : null,
      mse: this.metric === 'mse' ? this.sum / this.n : null,
      output: this.output,
    };
  }
}
