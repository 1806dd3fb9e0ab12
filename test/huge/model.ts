/**
 * Models for the huge-model tests: a chain of MatMul d×d → Relu layers whose float32
 * weights are lazy tensors (generated one at a time when written), saved with every
 * weight in one external data file. Values: a seeded LCG in ±0.05.
 */
import { Graph, Model, Node, Tensor, Value } from '../../src/ir';
import { saveOnnx } from '../../src/formats/onnx';

export function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 0.1;
  }
  return out;
}

export function matmulChain(layers: number, d: number): Model {
  const g = new Graph();
  g.name = 'chain';
  let cur = new Value('x', { dtype: 'float32', shape: ['batch', d] });
  g.inputs.push(cur);
  for (let l = 0; l < layers; l++) {
    const load = (): Uint8Array => new Uint8Array(seeded(d * d, l + 1).buffer);
    const w = g.addInitializer(`w${l}`, new Tensor('float32', [d, d], { kind: 'lazy', byteLength: d * d * 4, load }, `w${l}`));
    const h = new Value(`h${l}`, { dtype: 'float32' });
    const r = new Value(l === layers - 1 ? 'y' : `r${l}`, { dtype: 'float32' });
    g.addNode(new Node({ opType: 'MatMul', name: `mm${l}`, inputs: [cur, w], outputs: [h] }));
    g.addNode(new Node({ opType: 'Relu', name: `relu${l}`, inputs: [h], outputs: [r] }));
    cur = r;
  }
  g.outputs.push(cur);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

/** Writes the chain to `file` + `file.data`. */
export function writeMatmulChain(file: string, layers: number, d: number): void {
  saveOnnx(matmulChain(layers, d), file, { externalData: true });
}
