'use strict';
/**
 * Fine-tuning speed: examples per second of one training step (forward, backward and
 * an Adam update; batch 32, distillation loss) of the fixture CNN on mc's differentiable
 * executor (tfjs wasm backend, single-threaded), the same for the char-LM transformer
 * fixture when it is there, and peak RSS. When Debian's
 * /usr/bin/python3 has torch, the same architecture (BatchNorm in eval mode, as mc
 * trains it with frozen statistics) is timed in torch on the CPU with 1 thread, and the
 * ratio printed (the aim: no worse than 2× torch's time per step).
 */
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

const D = path.join(__dirname, '..', 'dist');
const { loadModel } = require(path.join(D, 'formats'));
const { useGradientBackend } = require(path.join(D, 'runtime', 'executor'));
const { openTrainable, kdLoss, makeOptimizer } = require(path.join(D, 'train'));

const BATCH = 32;
const WARM = 3;
const STEPS = 20;

const TORCH = `
import time, torch, torch.nn as nn
torch.set_num_threads(1); torch.manual_seed(0)
def block(i, o): return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
m = nn.Sequential(*block(1, 32), *block(32, 64), *block(64, 64), nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
t = nn.Sequential(*block(1, 32), *block(32, 64), *block(64, 64), nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
x = torch.rand(${BATCH}, 1, 28, 28)
def step():
    with torch.no_grad(): tl = t(x)
    s = m(x)
    loss = nn.functional.kl_div(nn.functional.log_softmax(s / 2, -1), nn.functional.softmax(tl / 2, -1), reduction='batchmean') * 4
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(${WARM}): step()
t0 = time.perf_counter()
for _ in range(${STEPS}): step()
print((time.perf_counter() - t0) / ${STEPS})
`;

function torchSeconds() {
  const py = '/usr/bin/python3';
  if (!fs.existsSync(py)) return null;
  try {
    return Number(execFileSync(py, ['-c', TORCH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return null;
  }
}

/** ms per training step (KD against the model as given, Adam) of `file` on a fixed batch. */
async function stepMs(file, makeInput) {
  const model = loadModel(path.join(__dirname, '..', 'fixtures', file));
  const t = await openTrainable(tf, model);
  const opt = makeOptimizer(tf, { kind: 'adam', momentum: 0, weightDecay: 0 });
  const x = makeInput(model.graph.inputs[0]);
  const feeds = { [model.graph.inputs[0].name]: x };
  const step = () => {
    const teacher = t.reference(feeds);
    const { grads } = t.lossAndGrads(feeds, (out) => kdLoss(tf, out, teacher, 2));
    opt.step(t.vars, grads, 1e-3);
    tf.dispose([teacher, ...grads]);
    t.vars[0].dataSync();
  };
  for (let i = 0; i < WARM; i++) step();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < STEPS; i++) step();
  const sec = Number(process.hrtime.bigint() - t0) / 1e9 / STEPS;
  opt.dispose();
  t.dispose();
  x.dispose();
  return sec;
}

(async () => {
  await useGradientBackend(tf, 'wasm');
  const sec = await stepMs('cnn.onnx', () => tf.randomUniform([BATCH, 1, 28, 28], 0, 1, 'float32', 1));
  console.log(`finetune step, fixture CNN, batch ${BATCH} (mc, tfjs ${tf.getBackend()}): ${(sec * 1000).toFixed(1)} ms/step, ${(BATCH / sec).toFixed(0)} examples/s`);
  const ts = torchSeconds();
  if (ts === null) console.log('torch: /usr/bin/python3 has no torch; no side-by-side figure');
  else console.log(`torch 1 thread, same architecture: ${(ts * 1000).toFixed(1)} ms/step, ${(BATCH / ts).toFixed(0)} examples/s; mc/torch time ratio ${(sec / ts).toFixed(2)}×`);
  if (fs.existsSync(path.join(__dirname, '..', 'fixtures', 'char-lm.onnx'))) {
    // The character LM (transformer) fixture: [N, T] token ids.
    const lm = await stepMs('char-lm.onnx', (v) => tf.randomUniform([BATCH, v.shape[1]], 0, 50, 'int32', 2));
    console.log(`finetune step, char-lm transformer fixture, batch ${BATCH}: ${(lm * 1000).toFixed(1)} ms/step, ${(BATCH / lm).toFixed(0)} sequences/s`);
  } else {
    console.log('transformer fixture: fixtures/char-lm.onnx is missing; not measured');
  }
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
