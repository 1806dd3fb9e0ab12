/**
 * tfjs output: the format's own stored quantization (manifest entry
 * `quantization: {dtype, min, scale}` or `{dtype: 'float16'}`), one affine
 * range per tensor (the only granularity tfjs has). Stock tfjs decodes it in
 * io.decodeWeights with no custom code.
 *  --bits 8: uint8 (or what --tfjs-dtype asks);
 *  --bits 4: 16 levels in the uint8 container: the files are not smaller,
 *    only their gzip size is (the CLI says so);
 *  --tfjs-dtype auto: uint8 (or 4-bit levels) unless its weight SQNR is below
 *    minWeightSqnrDb, then the better of uint16 and float16;
 *  a weight named in `overrides` gets the storage dtype given there.
 */
import type { Tensor, Value } from '../../ir';
import { setTfjsQuantization } from '../../formats/tfjs/quantization';
import type { GraphEdit } from './edits';
import { optionsFor, type QuantizeOptions } from './options';
import { quantizeTfjsAffine, quantizeTfjsFloat16 } from './tfjs-affine';
import { sqnrDb } from './params';

export interface TfjsEmission {
  edits: GraphEdit[];
  dtype: 'uint8' | 'uint16' | 'float16';
  levels: number;
  bytesAfter: number;
  sqnrDb: number;
  /** options.levels had levels for this weight that were not written, and why. */
  levelsNotUsed?: string;
}

type Choice = { dtype: 'uint8' | 'uint16'; levels: 16 | 256 | 65536; min: number; scale: number; stored: Uint8Array; sqnrDb: number }
  | { dtype: 'float16'; levels: 65536; stored: Uint8Array; sqnrDb: number };

function affine(w: Float32Array, levels: 16 | 256 | 65536, name: string): Choice {
  const r = quantizeTfjsAffine(w, (levels - 1) as 15 | 255 | 65535, name);
  return { dtype: r.dtype, levels, min: r.min, scale: r.scale, stored: r.stored, sqnrDb: r.sqnrDb };
}

function half(w: Float32Array, name: string): Choice {
  const r = quantizeTfjsFloat16(w, name);
  return { dtype: 'float16', levels: 65536, stored: r.stored, sqnrDb: r.sqnrDb };
}

export function emitTfjs(weight: Value, runOpts: QuantizeOptions): TfjsEmission {
  // A back-off (the output check) may give this weight its own storage dtype.
  const opts = optionsFor(runOpts, weight.name);
  const tensor = weight.const!;
  const w = tensor.toFloat32();
  const narrow: 16 | 256 = opts.bits === 4 ? 16 : 256;
  let c: Choice;
  switch (opts.tfjsDtype) {
    case 'uint8': c = affine(w, narrow, weight.name); break;
    case 'uint16': c = affine(w, 65536, weight.name); break;
    case 'float16': c = half(w, weight.name); break;
    case 'auto': {
      c = affine(w, narrow, weight.name);
      if (c.sqnrDb < opts.minWeightSqnrDb) {
        const a = affine(w, 65536, weight.name);
        const h = half(w, weight.name);
        c = h.sqnrDb > a.sqnrDb ? h : a;
      }
      break;
    }
  }
  // Levels computed outside the pass (GPTQ on tfjs' grid, src/pipeline/reconstruct.ts): round 1's
  // min and scale for this weight with the given levels, when the form written is that grid.
  const provided = opts.levels?.get(weight.name);
  let levelsNotUsed: string | undefined;
  if (provided) {
    const fits = c.dtype === 'uint8' && provided.dtype === 'uint8' && provided.layout.granularity === 'tensor' && provided.values.length === w.length
      && provided.values.every((q) => q < c.levels);
    if (fits && c.dtype === 'uint8') {
      const stored = Uint8Array.from(provided.values);
      let signal = 0;
      let noise = 0;
      for (let i = 0; i < w.length; i++) {
        const e = w[i] - Math.fround(stored[i] * c.scale + c.min);
        signal += w[i] * w[i];
        noise += e * e;
      }
      c = { ...c, stored, sqnrDb: sqnrDb(signal, noise) };
    } else {
      levelsNotUsed = `the form written is tfjs ${c.dtype}${c.dtype === 'float16' ? '' : ` with ${c.levels} levels`}, not the computed uint8 levels`;
    }
  }
  const chosen = c;
  const apply = (t: Tensor): void =>
    setTfjsQuantization(t, chosen.dtype === 'float16' ? { dtype: 'float16' } : { dtype: chosen.dtype, min: chosen.min, scale: chosen.scale }, chosen.stored);
  return {
    edits: [{ kind: 'updateTensor', tensor, apply }],
    dtype: chosen.dtype,
    levels: chosen.levels,
    bytesAfter: chosen.stored.byteLength,
    sqnrDb: chosen.sqnrDb,
    levelsNotUsed,
  };
}
