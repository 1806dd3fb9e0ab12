#!/usr/bin/env node
'use strict';
/**
 * npm run fuzz [-- --cases N] [--seed S] [--parser name[,name]] [--replay parser:caseSeed] [--out dir] [--self-test]
 *
 * A seeded mutation fuzzer over mc's readers (run against dist/: `npm run build` first).
 * For each parser it runs N cases in a worker process and prints cases,
 * failures, the run seed and the time. Each case has its own seed, derived from
 * the run seed, so a failure prints a replay command that runs that case alone.
 * The first input of each distinct failure is shrunk and saved under --out
 * (default: a folder in the OS temp dir). See docs/fuzzing.md.
 */
const { fork } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { TARGETS } = require('./targets');

const HANG_MS = 30000;

function parseArgs(argv) {
  const o = { cases: 1000, seed: 1, parsers: TARGETS, replay: undefined, out: undefined, chunk: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--cases') o.cases = Number(val());
    else if (a === '--seed') o.seed = Number(val());
    else if (a === '--parser') o.parsers = val().split(',');
    else if (a === '--replay') o.replay = val();
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '--self-test') o.selfTest = true;
    else if (a === '--help' || a === '-h') { console.log(fs.readFileSync(__filename, 'utf8').split('*/')[0]); process.exit(0); }
    else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.cases) || o.cases < 0) throw new Error('--cases must be a whole number');
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new Error('--seed must be a whole number');
  for (const p of o.parsers) if (!TARGETS.includes(p)) throw new Error(`unknown parser '${p}' (${TARGETS.join(', ')})`);
  return o;
}

/** Runs cases [start, start+count) in a worker; a worker that dies or hangs is restarted after the case that did it. */
function runChunk(opts, parser, start, count, knownSigs) {
  return new Promise((resolve) => {
    const res = { fails: [], typed: 0, accepted: 0, peakRss: 0, next: start + count };
    const args = JSON.stringify({ parser, runSeed: opts.seed, start, count, outDir: opts.out, knownSigs, replaySeed: opts.replaySeed, selfTest: opts.selfTest });
    const child = fork(path.join(__dirname, 'worker.js'), [args], { execArgv: ['--max-old-space-size=2048', '--stack-size=984'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let current;
    let timer;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        res.fails.push({ i: current.i, seed: current.seed, kind: 'hang', sig: 'hang', detail: `no result after ${HANG_MS / 1000} s wall` });
        child.kill('SIGKILL');
      }, HANG_MS);
    };
    child.on('message', (m) => {
      if (m.t === 'start') { current = m; arm(); }
      else if (m.t === 'res') { if (m.typed) res.typed++; if (m.accepted) res.accepted++; }
      else if (m.t === 'fail') res.fails.push(m);
      else if (m.t === 'replay') res.replay = m;
      else if (m.t === 'self') (res.self ??= []).push(m);
      else if (m.t === 'done') { res.done = true; res.peakRss = m.peakRss; }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!res.done) {
        if (current && !res.fails.some((f) => f.seed === current.seed && f.kind === 'hang')) {
          res.fails.push({ i: current.i, seed: current.seed, kind: 'crash', sig: 'crash', detail: `worker died (${signal ?? `exit ${code}`})` });
        }
        res.next = current ? current.i + 1 : start + count;
      }
      resolve(res);
    });
  });
}

async function fuzzParser(opts, parser) {
  const t0 = Date.now();
  const fails = [];
  const sigs = new Set();
  let typed = 0;
  let accepted = 0;
  let peakRss = 0;
  let i = 0;
  while (i < opts.cases) {
    const count = Math.min(opts.chunk, opts.cases - i);
    const r = await runChunk(opts, parser, i, count, [...sigs]);
    fails.push(...r.fails);
    for (const f of r.fails) sigs.add(f.sig);
    typed += r.typed;
    accepted += r.accepted;
    peakRss = Math.max(peakRss, r.peakRss);
    i = r.next;
  }
  return { parser, fails, typed, accepted, peakRss, ms: Date.now() - t0 };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  opts.out ??= fs.mkdtempSync(path.join(os.tmpdir(), `mc-fuzz-out-${opts.seed}-`));
  if (!fs.existsSync(path.join(__dirname, '..', '..', 'dist', 'errors.js'))) throw new Error('dist/ is missing: run npm run build first');
  if (opts.selfTest) {
    // The guards must catch a 1 GiB typed array and Buffer, a CPU hog, a write outside out/ and a raw TypeError.
    const r = await runChunk(opts, 'selftest', 0, 0, []);
    let bad = 0;
    for (const m of r.self ?? []) {
      const ok = m.expected === 'ok' ? m.got.length === 0 : m.got.includes(m.expected);
      if (!ok) bad++;
      console.log(`self-test ${m.expected.padEnd(8)} ${ok ? 'caught' : 'MISSED'}${m.detail ? `: ${m.detail}` : ''}`);
    }
    if ((r.self ?? []).length !== 6) bad++;
    console.log(bad ? 'self-test FAILED' : 'self-test ok: every planted failure was flagged');
    process.exitCode = bad ? 1 : 0;
    return;
  }
  if (opts.replay) {
    const [parser, s] = opts.replay.split(':');
    if (!TARGETS.includes(parser) || !/^\d+$/.test(s ?? '')) throw new Error('--replay takes parser:caseSeed');
    opts.replaySeed = Number(s);
    const r = await runChunk(opts, parser, 0, 1, []);
    const rep = r.replay ?? {};
    console.log(`replay ${parser}:${s}: ${r.fails.length ? 'FAIL' : 'pass'}; ${rep.message !== undefined ? `error: ${rep.message}` : 'returned normally'}; cpu ${Math.round(rep.cpuMs ?? 0)} ms; allocated ${((rep.allocTotal ?? 0) / 1048576).toFixed(1)} MiB`);
    for (const f of r.fails) console.log(`  ${f.kind}: ${f.detail}${f.saved ? ` (input: ${f.saved})` : ''}`);
    process.exitCode = r.fails.length ? 1 : 0;
    return;
  }
  console.log(`mc fuzz: seed ${opts.seed}, ${opts.cases} cases per parser, parsers ${opts.parsers.join(', ')}; failing inputs go to ${opts.out}`);
  console.log(['parser'.padEnd(12), 'cases'.padStart(7), 'failures'.padStart(9), 'distinct'.padStart(9), 'typed err'.padStart(10), 'accepted'.padStart(9), 'seed'.padStart(6), 'time'.padStart(9), 'peak RSS'.padStart(9)].join(' '));
  let total = 0;
  for (const p of opts.parsers) {
    const r = await fuzzParser(opts, p);
    total += r.fails.length;
    const distinct = new Set(r.fails.map((f) => f.sig)).size;
    console.log([p.padEnd(12), String(opts.cases).padStart(7), String(r.fails.length).padStart(9), String(distinct).padStart(9), String(r.typed).padStart(10),
      String(r.accepted).padStart(9), String(opts.seed).padStart(6), `${(r.ms / 1000).toFixed(1)} s`.padStart(9), `${Math.round(r.peakRss / 1048576)} MiB`.padStart(9)].join(' '));
    const shown = new Set();
    for (const f of r.fails) {
      if (shown.has(f.sig)) continue;
      shown.add(f.sig);
      const n = r.fails.filter((g) => g.sig === f.sig).length;
      console.log(`    ${f.kind} ×${n}: ${f.detail}\n      replay: npm run fuzz -- --replay ${p}:${f.seed}${f.saved ? `\n      input: ${f.saved}` : ''}`);
    }
  }
  console.log(total ? `FAILED: ${total} failing cases` : 'ok: 0 failures');
  process.exitCode = total ? 1 : 0;
}

main().catch((e) => {
  console.error(`fuzz: ${e.message}`);
  process.exitCode = 2;
});
