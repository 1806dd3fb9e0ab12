/**
 * The IR of a loaded tfjs model as in-memory tf.io.ModelArtifacts, so stock
 * tfjs (loadLayersModel / loadGraphModel over tf.io.fromMemory) can run the
 * model mc holds, with no temporary files. The bytes are exactly what
 * saveTfjs would write (same encoders), so stored weight quantization is
 * decoded by tfjs itself, as it is for the file on disk.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { UnsupportedError } from '../errors';
import type { Model } from '../ir';
import { encodeGraphModel } from '../formats/tfjs/graph-model';
import { encodeLayersModel } from '../formats/tfjs/layers-model';
import { encodeWeights } from '../formats/tfjs/weights';
import { isObject, type TfjsModelExtra } from '../formats/tfjs/types';

function tfjsExtra(model: Model): TfjsModelExtra {
  const e = model.extra;
  if (isObject(e) && e.kind === 'tfjs') return e as unknown as TfjsModelExtra;
  throw new UnsupportedError(`the ${model.format} model was not loaded from a tfjs model.json, so stock tfjs cannot run it`);
}

/** model.json + one weight buffer for `model` ('tfjs-layers' or 'tfjs-graph'). */
export function tfjsArtifacts(model: Model): tfjs.io.ModelArtifacts {
  if (model.format !== 'tfjs-layers' && model.format !== 'tfjs-graph') throw new UnsupportedError(`not a tfjs model: '${model.format}'`);
  const extra = tfjsExtra(model);
  const { json, weights } = model.format === 'tfjs-graph' ? encodeGraphModel(model, extra) : encodeLayersModel(model, extra);
  const { entries, chunks } = encodeWeights(weights);
  const total = chunks.reduce((s, c) => s + c.byteLength, 0);
  const weightData = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    weightData.set(c, at);
    at += c.byteLength;
  }
  return {
    modelTopology: json.modelTopology as tfjs.io.ModelArtifacts['modelTopology'],
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
    signature: (model.signature ?? json.signature) as tfjs.io.ModelArtifacts['signature'],
    userDefinedMetadata: model.userMetadata as tfjs.io.ModelArtifacts['userDefinedMetadata'],
    modelInitializer: json.modelInitializer as tfjs.io.ModelArtifacts['modelInitializer'],
    initializerSignature: json.initializerSignature as tfjs.io.ModelArtifacts['initializerSignature'],
    weightSpecs: entries as tfjs.io.WeightsManifestEntry[],
    weightData: weightData.buffer,
  };
}
