#!/usr/bin/env node
/**
 * Widens a float16 ONNX model (main graph only) to float32, exactly: float16
 * initializers and Constant values become float32, every float16 value is
 * typed float32, and Cast(to FLOAT16) becomes Cast(to FLOAT). Used to measure
 * `mc convert --dtype fp16` on a network that ships only in float16 (ISNet):
 *   node scripts/float16/widen-to-float32.js in.onnx out.onnx
 */
const { loadModel, saveModel } = require('../../dist/formats');
const { intAttr } = require('../../dist/ir');

const widen = (t) => {
  const f = t.toFloat32();
  t.setData('float32', [...t.shape], { kind: 'bytes', bytes: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) });
};
const m = loadModel(process.argv[2]);
const g = m.graph;
for (const v of g.initializers) if (v.const.dtype === 'float16') { widen(v.const); v.dtype = 'float32'; }
for (const v of [...g.inputs, ...g.outputs, ...g.valueInfos]) if (v.dtype === 'float16') v.dtype = 'float32';
for (const n of g.nodes) {
  for (const o of n.outputs) if (o.dtype === 'float16') o.dtype = 'float32';
  if (n.opType === 'Cast' && n.attrInt('to') === 10) n.setAttribute(intAttr('to', 1));
  const a = n.opType === 'Constant' ? n.attributes.get('value') : undefined;
  if (a && a.type === 'tensor' && a.value.dtype === 'float16') widen(a.value);
}
saveModel(m, process.argv[3]);
