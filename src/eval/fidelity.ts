import type { HostTensor } from '../runtime';
import type { FidelityReport, LayerFidelity, OutputFidelity } from './types';
import { argmaxRow, numbersOf } from './tensor-view';

/** 10·log10(Σref² / Σerr²) in dB; +Infinity when the error is exactly zero. */
export function sqnrDb(sumRef2: number, sumErr2: number): number {
  if (sumErr2 === 0) return Infinity;
  return 10 * Math.log10(sumRef2 / sumErr2);
}

/**
 * Running error sums of one tensor (candidate against reference) across
 * batches. Sums are float64, so SQNR over the whole dataset is exact to
 * rounding, and nothing per sample is kept: memory does not grow with data.
 */
export class ErrorAccumulator {
  sumRef2 = 0;
  sumCand2 = 0;
  sumErr2 = 0;
  sumDot = 0;
  maxAbs = 0;

  add(ref: ArrayLike<number>, cand: ArrayLike<number>): void {
    for (let i = 0; i < ref.length; i++) {
      const r = ref[i];
      const c = cand[i];
      const e = r - c;
      this.sumRef2 += r * r;
      this.sumCand2 += c * c;
      this.sumErr2 += e * e;
      this.sumDot += r * c;
      const a = Math.abs(e);
      if (a > this.maxAbs || Number.isNaN(a)) this.maxAbs = a;
    }
  }

  get sqnrDb(): number {
    return sqnrDb(this.sumRef2, this.sumErr2);
  }

  /** Cosine similarity; 1 when both are all zeros. */
  get cosine(): number {
    const d = Math.sqrt(this.sumRef2) * Math.sqrt(this.sumCand2);
    return d === 0 ? (this.sumRef2 === this.sumCand2 ? 1 : 0) : this.sumDot / d;
  }
}

/** SQNR shown in reports: null stands for +Infinity (identical), which JSON cannot hold. */
export function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function shapeKey(s: readonly number[]): string {
  return s.join('x');
}

/** Compares candidate outputs with baseline outputs batch by batch. */
export class FidelityAccumulator {
  private readonly outputs = new Map<string, ErrorAccumulator>();
  private readonly layers = new Map<string, { acc: ErrorAccumulator; shape: string }>();
  private agree = 0;
  private rows = 0;
  private scoreOutput = true;
  private samples = 0;

  /** `names` are the model outputs in order; the first one is the score vector for top-1 agreement. */
  constructor(private readonly names: readonly string[]) {
    for (const n of names) this.outputs.set(n, new ErrorAccumulator());
  }

  addOutputs(ref: ReadonlyMap<string, HostTensor>, cand: ReadonlyMap<string, HostTensor>, count: number): void {
    this.samples += count;
    for (const name of this.names) {
      const r = ref.get(name);
      const c = cand.get(name);
      if (!r || !c) continue;
      if (shapeKey(r.shape) !== shapeKey(c.shape)) {
        throw new Error(`output '${name}' has shape ${JSON.stringify(c.shape)} in the candidate but ${JSON.stringify(r.shape)} in the baseline`);
      }
      const rv = numbersOf(r);
      const cv = numbersOf(c);
      this.outputs.get(name)!.add(rv, cv);
      if (name === this.names[0]) this.addAgreement(r.shape, rv, cv);
    }
  }

  /** Top-1 agreement over rows of the last axis (per sample for [N, C]; per token for [N, T, V]). */
  private addAgreement(shape: readonly number[], rv: ArrayLike<number>, cv: ArrayLike<number>): void {
    const w = shape[shape.length - 1];
    if (shape.length < 2 || w < 2) {
      this.scoreOutput = false;
      return;
    }
    const rows = rv.length / w;
    for (let i = 0; i < rows; i++) if (argmaxRow(rv, i, w) === argmaxRow(cv, i, w)) this.agree++;
    this.rows += rows;
  }

  /** Intermediate tensors (per-layer mode): compared only where name and shape agree; the first shape seen sticks. */
  addLayers(ref: ReadonlyMap<string, HostTensor>, cand: ReadonlyMap<string, HostTensor>): void {
    for (const [name, r] of ref) {
      const c = cand.get(name);
      if (!c || shapeKey(r.shape) !== shapeKey(c.shape)) continue;
      let entry = this.layers.get(name);
      if (!entry) {
        entry = { acc: new ErrorAccumulator(), shape: shapeKey(r.shape.slice(1)) };
        this.layers.set(name, entry);
      } else if (entry.shape !== shapeKey(r.shape.slice(1))) {
        continue;
      }
      entry.acc.add(numbersOf(r), numbersOf(c));
    }
  }

  report(perLayer: boolean, worstCount = 10): FidelityReport {
    const outputs: OutputFidelity[] = this.names.map((name) => {
      const a = this.outputs.get(name)!;
      return { name, sqnrDb: finiteOrNull(a.sqnrDb), cosine: a.cosine, maxAbsError: a.maxAbs };
    });
    const accs = [...this.outputs.values()];
    const worstSqnr = Math.min(...accs.map((a) => a.sqnrDb));
    let worstLayers: LayerFidelity[] | null = null;
    if (perLayer) {
      worstLayers = [...this.layers.entries()]
        .map(([name, e]) => ({ name, db: e.acc.sqnrDb }))
        .sort((a, b) => a.db - b.db || (a.name < b.name ? -1 : 1))
        .slice(0, worstCount)
        .map(({ name, db }) => ({ name, sqnrDb: finiteOrNull(db) }));
    }
    return {
      samples: this.samples,
      top1Agreement: this.scoreOutput && this.rows > 0 ? this.agree / this.rows : null,
      sqnrDb: finiteOrNull(worstSqnr),
      cosine: Math.min(...accs.map((a) => a.cosine)),
      maxAbsError: Math.max(...accs.map((a) => a.maxAbs)),
      outputs,
      worstLayers,
      layersCompared: perLayer ? this.layers.size : null,
    };
  }
}
