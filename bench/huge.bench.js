'use strict';
/**
 * Huge models in bounded memory (issue 15 §2). Not run by a bare `npm run bench`
 * (it writes 3 GiB and takes minutes on 2 cores): `npm run bench -- huge`.
 *
 * Builds in os.tmpdir() (deleted afterwards) a model of 48 MatMul 4096×4096
 * float32 weights = 3 GiB of external data (bench/huge-model.js: one tensor
 * generated at a time), then runs each command once in a fresh process through
 * the CLI's entry point (bench/huge-child.js) and prints wall time, CPU time,
 * MiB/s over the float32 input bytes, peak RSS (absolute and as a share of the
 * model) and the bytes the process read:
 *   mc quantize --bits 8 --no-output-check   int8 per-channel, DequantizeLinear
 *   mc quantize --bits 4 --no-output-check   int4 block-32 MatMulNBits (last layer int8 backup)
 *   mc convert (fp32 re-save); mc convert --dtype fp16 only when asked (MC_HUGE_ONLY=fp16:
 *     it converts in memory and took 312 s and 3.2 GiB here)
 *   mc inspect (must not read the weights: its read bytes are shown)
 * The output check is off: it runs the float and the quantized model in
 * onnxruntime, which holds the whole model in memory by design.
 * Targets: peak RSS ≤ 1 GiB for quantize and convert; ≥ 400 MiB/s end to end
 * for int8 and int4. The page cache is warm (the model was just written): the
 * numbers are of mc, not of the disk.
 * 2g (only when asked: MC_HUGE_ONLY=2g): one MatMul weight of 24576×24576 float32 =
 * 2.25 GiB, over 2^31 bytes, quantized to int8 and int4: whether a single tensor above
 * 2 GiB works (it must be held whole: peak RSS is at least its size).
 * Env: MC_HUGE_LAYERS (48), MC_HUGE_DIM (4096), MC_HUGE_ONLY (comma list of
 * rows: int8,int4,convert,fp16,inspect,2g; default all but fp16 and 2g).
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { writeBigTensorModel, writeHugeModel } = require('./huge-model');

const dist = path.join(__dirname, '..', 'dist');
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function run(args, tmp) {
  const stats = path.join(tmp, 'stats.json');
  fs.rmSync(stats, { force: true });
  const r = spawnSync(process.execPath, [path.join(__dirname, 'huge-child.js'), ...args], {
    encoding: 'utf8', env: { ...process.env, MC_BENCH_STATS: stats }, maxBuffer: 64 * MiB,
  });
  if (!fs.existsSync(stats)) throw new Error(`mc ${args.join(' ')} left no stats (${r.status ?? r.signal}): ${r.stderr}`);
  const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
  if (s.code !== 0 || r.status !== 0) throw new Error(`mc ${args.join(' ')} exited ${s.code}: ${r.stderr.trim()}`);
  return s;
}

function folderBytes(dir, except) {
  return fs.readdirSync(dir).filter((f) => !except.includes(f)).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

function main() {
  const layers = Number(process.env.MC_HUGE_LAYERS ?? 48);
  const d = Number(process.env.MC_HUGE_DIM ?? 4096);
  const only = process.env.MC_HUGE_ONLY ? process.env.MC_HUGE_ONLY.split(',') : ['int8', 'int4', 'convert', 'inspect'];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-huge-'));
  const cleanup = () => fs.rmSync(tmp, { recursive: true, force: true });
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  try {
    const input = path.join(tmp, 'huge.onnx');
    const t0 = Date.now();
    writeHugeModel(dist, input, layers, d);
    const modelBytes = fs.statSync(input).size + fs.statSync(`${input}.data`).size;
    console.log(`huge: ${layers} × MatMul ${d}×${d} float32 = ${(modelBytes / GiB).toFixed(2)} GiB (external data), written in ${((Date.now() - t0) / 1000).toFixed(1)} s to ${tmp}`);
    console.log(`cpu: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    const rows = [
      { key: 'int8', label: 'quantize --bits 8', args: (o) => ['quantize', input, '-o', o, '--bits', '8', '--no-output-check'], rss: 1, rate: 400 },
      { key: 'int4', label: 'quantize --bits 4', args: (o) => ['quantize', input, '-o', o, '--bits', '4', '--no-output-check'], rss: 1, rate: 400 },
      { key: 'convert', label: 'convert (fp32 re-save)', args: (o) => ['convert', input, '-o', o], rss: 1 },
      { key: 'fp16', label: 'convert --dtype fp16', args: (o) => ['convert', input, '-o', o, '--dtype', 'fp16'], rss: 1 },
      { key: 'inspect', label: 'inspect', args: () => ['inspect', input] },
    ].filter((r) => only.includes(r.key));
    const col = (x, w) => String(x).padStart(w);
    console.log(`  ${'command'.padEnd(24)}${col('wall s', 8)}${col('CPU s', 8)}${col('MiB/s', 8)}${col('peak RSS', 11)}${col('× model', 9)}${col('read', 11)}${col('output', 11)}  target`);
    let missed = 0;
    // What starting mc costs by itself (Node, the modules it loads): inspect's reads are compared to it.
    const base = run(['--version'], tmp);
    console.log(`  ${'mc --version (startup)'.padEnd(24)}${col(base.seconds.toFixed(2), 8)}${col(base.cpuSeconds.toFixed(2), 8)}${col('-', 8)}${col(`${(base.maxRssBytes / MiB).toFixed(0)} MiB`, 11)}${col('-', 9)}${col(`${(base.readBytes / MiB).toFixed(1)} MiB`, 11)}`);
    for (const r of rows) {
      const out = path.join(tmp, `out-${r.key}.onnx`);
      const s = run(r.args(out), tmp);
      const outBytes = r.key === 'inspect' ? 0 : folderBytes(tmp, ['huge.onnx', 'huge.onnx.data', 'stats.json']);
      const rate = modelBytes / MiB / s.seconds;
      const checks = [];
      if (r.rss) checks.push(s.maxRssBytes <= r.rss * GiB ? `RSS ≤ ${r.rss} GiB met` : `RSS ≤ ${r.rss} GiB MISSED`);
      if (r.rate) checks.push(rate >= r.rate ? `≥ ${r.rate} MiB/s met` : `≥ ${r.rate} MiB/s MISSED`);
      if (r.key === 'inspect') {
        const extra = s.readBytes - base.readBytes;
        checks.push(`${(extra / MiB).toFixed(1)} MiB read beyond startup: ${extra < d * d * 4 ? 'no weight read' : 'READ WEIGHTS'}`);
      }
      missed += checks.filter((c) => /MISSED|READ/.test(c)).length;
      console.log(`  ${r.label.padEnd(24)}${col(s.seconds.toFixed(2), 8)}${col(s.cpuSeconds.toFixed(2), 8)}${col(r.key === 'inspect' ? '-' : rate.toFixed(0), 8)}`
        + `${col(`${(s.maxRssBytes / MiB).toFixed(0)} MiB`, 11)}${col(`${(s.maxRssBytes / modelBytes).toFixed(3)}×`, 9)}`
        + `${col(`${(s.readBytes / MiB).toFixed(1)} MiB`, 11)}${col(r.key === 'inspect' ? '-' : `${(outBytes / MiB).toFixed(0)} MiB`, 11)}  ${checks.join(', ')}`);
      for (const f of fs.readdirSync(tmp)) if (f.startsWith('out-') || f.startsWith('.out-')) fs.rmSync(path.join(tmp, f), { force: true });
    }
    if (only.includes('2g')) {
      fs.rmSync(input, { force: true });
      fs.rmSync(`${input}.data`, { force: true });
      const big = path.join(tmp, 'big.onnx');
      const bytes = writeBigTensorModel(dist, big, 24576, 24576);
      console.log(`  2g: one MatMul weight 24576×24576 float32 = ${bytes} bytes (${(bytes / GiB).toFixed(2)} GiB, over 2^31)`);
      for (const bits of ['8', '4']) {
        const out = path.join(tmp, `out-2g-${bits}.onnx`);
        try {
          const s = run(['quantize', big, '-o', out, '--bits', bits, '--no-output-check'], tmp);
          const outBytes = folderBytes(tmp, ['big.onnx', 'big.onnx.data', 'stats.json']);
          console.log(`  ${`quantize --bits ${bits} (2g)`.padEnd(24)}${col(s.seconds.toFixed(2), 8)}${col(s.cpuSeconds.toFixed(2), 8)}${col((bytes / MiB / s.seconds).toFixed(0), 8)}`
            + `${col(`${(s.maxRssBytes / MiB).toFixed(0)} MiB`, 11)}${col(`${(s.maxRssBytes / bytes).toFixed(3)}×`, 9)}${col(`${(s.readBytes / MiB).toFixed(1)} MiB`, 11)}${col(`${(outBytes / MiB).toFixed(0)} MiB`, 11)}  works`);
        } catch (e) {
          console.log(`  quantize --bits ${bits} (2g): ${e.message.split('\n')[0]}`);
        }
        for (const f of fs.readdirSync(tmp)) if (f.startsWith('out-') || f.startsWith('.out-')) fs.rmSync(path.join(tmp, f), { force: true });
      }
    }
    console.log(`  MiB/s is the float32 model's bytes over the wall time of the whole process (start, load, quantize, write, exit); ${missed ? `${missed} target(s) missed` : 'all targets met'}`);
  } finally {
    cleanup();
  }
}
main();
