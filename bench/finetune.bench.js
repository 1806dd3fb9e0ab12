'use strict';
/**
 * Fine-tuning speed: examples per second of one training step (forward, backward and
 * an Adam update; batch 32, distillation loss) of the fixture CNN on mc's differentiable
 * executor (tfjs wasm backend, single-threaded), the same for the char-LM transformer
 * fixture when it is there, and peak RSS. When Debian's
 * /usr/bin/python3 has torch, the same architecture (BatchNorm in eval mode, as mc
 * trains it with frozen statistics) is timed in torch on the CPU with 1 thread, and the
 * ratio printed (the aim: no worse than 2× torch's time per step).
 *
 * The machine is shared, so each side is timed in BLOCKS blocks of STEPS steps, mc and
 * torch alternating block by block (torch runs in one long-lived child fed over stdin);
 * the figures are the fastest block (least disturbed) with the median and slowest beside
 * it, and the load average before and after. The CPU time each side used (process.cpuUsage,
 * Python's process_time) is printed too, as a check that each side used one core (CPU time
 * well above wall time means a second thread; Node's GC threads count towards mc's). MC_DIST points at another build of dist/;
 * FINETUNE_BENCH_CNN_ONLY=1 skips the transformer.
 * tfjs's wasm backend runs one thread in Node (its threaded binary is switched off there:
 * WASM_HAS_MULTITHREAD_SUPPORT is false under Node in tfjs 4.22), so torch gets one too.
 */
const { spawn } = require('child_process');
const os = require('os');
const readline = require('readline');
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

const D = process.env.MC_DIST || path.join(__dirname, '..', 'dist');
const { loadModel } = require(path.join(D, 'formats'));
const { useGradientBackend } = require(path.join(D, 'runtime', 'executor'));
const { openTrainable, kdLoss, makeOptimizer } = require(path.join(D, 'train'));

const BATCH = 32;
const WARM = 3;
const STEPS = Number(process.env.STEPS || 5);
const BLOCKS = Number(process.env.BLOCKS || 6);

const TORCH = `
import time, torch, torch.nn as nn
torch.set_num_threads(1); torch.set_num_interop_threads(1); torch.manual_seed(0)
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
print('ready', flush=True)
for line in sys.stdin:
    t0 = time.perf_counter(); c0 = time.process_time()
    for _ in range(${STEPS}): step()
    print((time.perf_counter() - t0) / ${STEPS}, (time.process_time() - c0) / ${STEPS}, flush=True)
`;

/** A torch child that times STEPS steps per line it reads; null without torch. */
async function torchTimer() {
  const py = '/usr/bin/python3';
  if (!fs.existsSync(py)) return null;
  // One thread everywhere: OpenMP/MKL pools too, not only torch's intra-op pool.
  const env = { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const child = spawn(py, ['-c', `import sys\n${TORCH}`], { stdio: ['pipe', 'pipe', 'ignore'], env });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error('torch child exited');
    return r.value;
  };
  try {
    if ((await next()) !== 'ready') return null;
  } catch {
    return null;
  }
  return {
    block: async () => {
      child.stdin.write('go\n');
      const [wall, cpu] = (await next()).split(' ').map(Number);
      return { wall, cpu };
    },
    close: () => child.stdin.end(),
  };
}

function spread(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], med: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
}
const ms = (sec) => (sec * 1000).toFixed(1);

/** A timer of training steps (KD against the model as given, Adam) of `file` on a fixed batch: seconds per step over STEPS steps. */
async function stepTimer(file, makeInput) {
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
  return {
    block: () => {
      const t0 = process.hrtime.bigint();
      const c0 = process.cpuUsage();
      for (let i = 0; i < STEPS; i++) step();
      const c = process.cpuUsage(c0);
      return { wall: Number(process.hrtime.bigint() - t0) / 1e9 / STEPS, cpu: (c.user + c.system) / 1e6 / STEPS };
    },
    close: () => {
      opt.dispose();
      t.dispose();
      x.dispose();
    },
  };
}

(async () => {
  await useGradientBackend(tf, 'wasm');
  const load0 = os.loadavg()[0];
  const mc = await stepTimer('cnn.onnx', () => tf.randomUniform([BATCH, 1, 28, 28], 0, 1, 'float32', 1));
  const torch = await torchTimer();
  const mcs = [];
  const ts = [];
  for (let b = 0; b < BLOCKS; b++) {
    mcs.push(mc.block());
    if (torch) ts.push(await torch.block());
  }
  mc.close();
  torch?.close();
  const m = spread(mcs.map((b) => b.wall));
  const mc1 = spread(mcs.map((b) => b.cpu));
  console.log(`finetune step, fixture CNN, batch ${BATCH} (mc, tfjs ${tf.getBackend()}, 1 thread): ${ms(m.min)} ms/step (median ${ms(m.med)}, slowest ${ms(m.max)}; ${BLOCKS} blocks of ${STEPS}), ${(BATCH / m.min).toFixed(0)} examples/s; CPU time ${ms(mc1.min)} ms/step (median ${ms(mc1.med)})`);
  if (!torch) console.log('torch: /usr/bin/python3 has no torch; no side-by-side figure');
  else {
    const t = spread(ts.map((b) => b.wall));
    const t1 = spread(ts.map((b) => b.cpu));
    console.log(`torch 1 thread, same architecture: ${ms(t.min)} ms/step (median ${ms(t.med)}, slowest ${ms(t.max)}), ${(BATCH / t.min).toFixed(0)} examples/s; CPU time ${ms(t1.min)} ms/step (median ${ms(t1.med)})`);
    console.log(`mc/torch time ratio ${(m.min / t.min).toFixed(2)}× fastest blocks, ${(m.med / t.med).toFixed(2)}× medians (blocks alternate, so both saw the same load); CPU time ${(mc1.min / t1.min).toFixed(2)}×`);
  }
  console.log(`load average ${load0.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after (${os.cpus().length} cores)`);
  if (process.env.FINETUNE_BENCH_CNN_ONLY) {
    console.log('transformer fixture: skipped (FINETUNE_BENCH_CNN_ONLY)');
  } else if (fs.existsSync(path.join(__dirname, '..', 'fixtures', 'char-lm.onnx'))) {
    // The character LM (transformer) fixture: [N, T] token ids.
    const lmTimer = await stepTimer('char-lm.onnx', (v) => tf.randomUniform([BATCH, v.shape[1]], 0, 50, 'int32', 2));
    const lm = spread([lmTimer.block().wall, lmTimer.block().wall]).min;
    lmTimer.close();
    console.log(`finetune step, char-lm transformer fixture, batch ${BATCH}: ${ms(lm)} ms/step (fastest of 2 blocks of ${STEPS}), ${(BATCH / lm).toFixed(0)} sequences/s`);
  } else {
    console.log('transformer fixture: fixtures/char-lm.onnx is missing; not measured');
  }
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
