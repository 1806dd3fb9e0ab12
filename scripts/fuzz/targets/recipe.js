'use strict';
/**
 * Recipes (YAML or JSON): parseRecipe (src/plan/read.ts). Structure-aware
 * edits: a value replaced through the YAML document, deep nesting, alias
 * (billion laughs) expansion, huge numbers, tags.
 */
const path = require('path');
const { dist, HOSTILE_PATHS } = require('./common');

const SEEDS = [
  ['model: m.onnx', 'steps:', '  - prune: { sparsity: 0.5, pattern: unstructured, criterion: magnitude, scope: global }',
    '    exclude: ["*embed*", "/head/"]', '  - quantize: { bits: 4, granularity: block, block-size: 64 }', '    layers: ["*/mlp/*"]',
    '  - quantize: { bits: 8, asymmetric: true }', 'eval:', '  data: eval.npy', '  labels: labels.npy', '  budgets: { max-accuracy-drop: 0.5, max-size-ratio: 0.3 }'].join('\n'),
  '{"steps": [{"quantize": {"bits": 8}}]}',
  'steps:\n  - quantize:\n      bits: 4\n      granularity: channel\n',
];

function seeds() {
  return SEEDS.map((s) => ({ main: 'mc.yaml', files: { 'mc.yaml': new Uint8Array(Buffer.from(s)) } }));
}

const VALUES = [null, -1, 0, 1e308, 2 ** 53 + 2, 'x', '', [], {}, true, '[', '*', '**/', '/(a+)+$/', ...HOSTILE_PATHS];

function structured(r, input) {
  const YAML = require('yaml');
  const text = Buffer.from(input.files[input.main]).toString('utf8');
  let out;
  switch (r.int(6)) {
    case 0: { const d = r.pick([100, 1000, 10000]); out = `steps: ${'['.repeat(d)}1${']'.repeat(d)}\n`; break; }
    case 1: { const d = r.pick([100, 1000, 10000]); out = `steps:\n  - quantize: ${'{a: '.repeat(d)}1${'}'.repeat(d)}\n`; break; }
    case 2: { // billion laughs
      const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
      for (let k = 1; k < 10; k++) lines.push(`a${k}: &a${k} [${Array(10).fill(`*a${k - 1}`).join(', ')}]`);
      lines.push('steps: [{quantize: {bits: 8}}]', `eval: {data: *a9}`);
      out = lines.join('\n');
      break;
    }
    case 3: out = r.pick(['steps: !!binary AAAA', 'steps: !!js/function "function(){}"', '<<: *nope', 'steps: [{quantize: {bits: !!float .nan}}]', '%YAML 9.9\n---\nsteps: []', '--- a\n--- b', 'steps: [{quantize: {bits: 8}}]\nsteps: []']); break;
    default: {
      let doc;
      try { doc = YAML.parse(text); } catch { return input; }
      const slots = [];
      const walk = (v) => {
        if (Array.isArray(v)) v.forEach((x, i) => { slots.push([v, i]); walk(x); });
        else if (v && typeof v === 'object') for (const k of Object.keys(v)) { slots.push([v, k]); walk(v[k]); }
      };
      walk(doc);
      for (let k = 1 + r.small(3); k > 0 && slots.length; k--) {
        const [p, key] = r.pick(slots);
        p[key] = r.pick(VALUES);
      }
      out = r.chance(0.5) ? JSON.stringify(doc) : YAML.stringify(doc);
    }
  }
  return { main: input.main, files: { [input.main]: new Uint8Array(Buffer.from(out)) } };
}

function run(dir, main) {
  const { parseRecipe } = dist('plan/read');
  const file = path.join(dir, main);
  parseRecipe(require('fs').readFileSync(file, 'utf8'), file, dir);
}

module.exports = { seeds, structured, run };
