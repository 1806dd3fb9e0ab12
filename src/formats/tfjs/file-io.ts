/**
 * A tf.io.IOHandler over the local filesystem, for stock tfjs without
 * tfjs-node (whose `file://` handler needs libtensorflow):
 *   tf.loadGraphModel(tfjsFileHandler(dir))   reads dir/model.json + shards
 *   model.save(tfjsFileHandler(dir))          writes model.json + weights.bin
 * Shard paths are resolved inside the model folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors';
import { resolveInside } from '../../util/safe-path';
import { writeFileAtomic } from '../../util/atomic';

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

export function tfjsFileHandler(dirOrJson: string): tf.io.IOHandler {
  const jsonPath = dirOrJson.endsWith('.json') ? dirOrJson : path.join(dirOrJson, 'model.json');
  const dir = path.dirname(jsonPath);
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (e) {
        throw new InputError(`cannot read model.json: ${(e as Error).message}`, jsonPath);
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const g of json.weightsManifest ?? []) {
        for (const p of g.paths) buffers.push(fs.readFileSync(resolveInside(dir, p, jsonPath)));
        specs.push(...g.weights);
      }
      // One concatenated buffer, as tfjs-node's file handler passes: with a list of
      // odd-sized shard buffers, tfjs 4.22 decoded some weights wrongly under jest.
      const weightData = toArrayBuffer(Buffer.concat(buffers));
      const artifacts: tf.io.ModelArtifacts = { ...json, weightSpecs: specs, weightData };
      delete (artifacts as { weightsManifest?: unknown }).weightsManifest;
      return artifacts;
    },
    async save(a: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      fs.mkdirSync(dir, { recursive: true });
      const data = a.weightData;
      const bytes = data === undefined ? new Uint8Array(0)
        : Array.isArray(data) ? Buffer.concat(data.map((d) => new Uint8Array(d))) : new Uint8Array(data);
      const weights = a.weightSpecs ?? [];
      const json: Record<string, unknown> = {
        modelTopology: a.modelTopology,
        format: a.format,
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy,
        weightsManifest: [{ paths: ['weights.bin'], weights }],
      };
      for (const k of ['signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature', 'trainingConfig'] as const) {
        if (a[k] != null) json[k] = a[k];
      }
      writeFileAtomic(path.join(dir, 'weights.bin'), bytes);
      writeFileAtomic(jsonPath, JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  };
}
