/**
 * The optional first-layer rewrite of a static int8 QDQ model as a pass:
 * Conv → MaxPool(2×2) becomes SpaceToDepth → Conv → Split → Max
 * (space-to-depth-pool.ts). It runs after the QDQ pass and updates the
 * settings that pass recorded in `mc.quantization`. Whether it runs is the
 * pipeline's decision (the target's forms, the user's option, or a timing of
 * this model both ways: src/pipeline/static-decisions.ts).
 */
import type { Model } from '../../../ir';
import type { Pass, PassResult } from '../../pass';
import { NameAllocator, removeUnusedInitializers } from '../edits';
import { rewriteSpaceToDepthPooling, SpaceToDepthPooling, SpaceToDepthSkip } from './space-to-depth-pool';

export interface SpaceToDepthReport {
  applied: SpaceToDepthPooling[];
  skipped: SpaceToDepthSkip[];
  storedAsUint8: boolean;
  /** Report lines, one per kind of rewrite applied. */
  transformations: string[];
  /** Tensors the rewrite renamed (old → new), for the activation rows. */
  renamed: Map<string, string>;
  /** Keys added to the `mc.quantization` settings. */
  settings: Record<string, unknown>;
}

export const spaceToDepthPoolingPass: Pass<SpaceToDepthReport> = {
  name: 'space-to-depth-pooling',
  run: (model) => rewritePooling(model),
};

function rewritePooling(model: Model): PassResult<SpaceToDepthReport> {
  const graph = model.graph;
  const pooling = rewriteSpaceToDepthPooling(graph, model.opsetVersion('') ?? 0, new NameAllocator(model));
  const transformations: string[] = [];
  const settings: Record<string, unknown> = {};
  if (pooling.applied.length) {
    transformations.push(`rewrote Conv → MaxPool(2×2) as SpaceToDepth → Conv (4× channels at ¼ the pixels) → Split → Max on the integers, which onnxruntime runs faster for few input channels; outputs unchanged where int8 products add in int32 (VNNI, AMX, arm64; not AVX2): ${pooling.applied.map((a) => `${a.conv} (${a.inputChannels}→${a.outputChannels} as ${4 * a.inputChannels}→${4 * a.outputChannels})`).join(', ')}`);
    settings.spaceToDepth = true;
  }
  if (pooling.storedAsUint8) {
    transformations.push('stored activations as uint8 with zero point + 128 (the same values as int8): the Split → Max block is explicit integer ops, which onnxruntime cannot convert from int8 to uint8 the way it converts Q/DQ pairs on x86, and a Conv with mixed int8/uint8 activations would not be fused');
    settings.activationStorage = 'uint8';
  }
  removeUnusedInitializers(graph, pooling.released);
  const recorded = model.metadataProps.find((m) => m.key === 'mc.quantization')?.value;
  if (Object.keys(settings).length && recorded !== undefined) model.setMetadata('mc.quantization', JSON.stringify({ ...JSON.parse(recorded) as object, ...settings }));
  const modified = pooling.applied.length > 0 || pooling.storedAsUint8;
  const renamed = new Map(pooling.applied.flatMap((a) => a.renamed));
  return { modified, changes: { applied: pooling.applied, skipped: pooling.skipped, storedAsUint8: pooling.storedAsUint8, transformations, renamed, settings } };
}
