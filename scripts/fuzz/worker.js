'use strict';
/**
 * Runs fuzz cases for one parser in this process, reporting to the parent
 * (run.js) over IPC. A case: derive its seed, build its input (a seed input,
 * a structure-aware edit, byte mutations), write it into a fresh folder, run
 * the parser on it and judge the outcome (see judge()).
 */
const guards = require('./guards');
guards.install();

const fs = require('fs');
const os = require('os');
const path = require('path');
const { caseSeed, rng } = require('./prng');
const { mutateBytes } = require('./mutate');
const { loadTarget } = require('./targets');
const { McError } = require('../../dist/errors');

const CPU_LIMIT_MS = 2000;
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

function writeCase(dir, input) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'out'), { recursive: true });
  for (const [name, data] of Object.entries(input.files)) {
    const full = path.join(dir, name);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (data instanceof Uint8Array) fs.writeFileSync(full, data);
    else fs.symlinkSync(data.link, full);
  }
}

function inputBytes(input) {
  return Object.values(input.files).reduce((s, d) => s + (d instanceof Uint8Array ? d.length : 0), 0);
}

/** The input of case `seed`: deterministic in the seed alone. */
function makeInput(target, seeds, seed) {
  const r = rng(seed);
  const base = r.pick(seeds);
  let input = { main: base.main, files: { ...base.files } };
  let structured = false;
  if (target.structured && r.chance(0.6)) {
    input = target.structured(r, input);
    structured = true;
  }
  if (!structured || r.chance(0.3)) {
    const names = Object.keys(input.files).filter((n) => input.files[n] instanceof Uint8Array);
    const name = names.includes(input.main) && r.chance(0.75) ? input.main : r.pick(names);
    let b = input.files[name];
    for (let k = 1 + r.small(4); k > 0; k--) b = mutateBytes(r, b);
    input.files = { ...input.files, [name]: b };
  }
  return input;
}

function firstFrame(e) {
  const lines = String(e && e.stack || '').split('\n').slice(1);
  const mine = lines.find((l) => l.includes('/dist/')) ?? lines[0] ?? '';
  return mine.trim().replace(/^at /, '').replace(/.*\/dist\//, 'dist/');
}

/**
 * Passing: the parser returned (and its output checked out), or it threw an
 * McError with exit code 2 and a one-line message; within CPU_LIMIT_MS of CPU;
 * allocating at most 4× the input + 64 MiB; writing nothing outside out/.
 */
function runCase(target, dir, input) {
  writeCase(dir, input);
  const limit = 4 * inputBytes(input) + 64 * MIB;
  const rss0 = process.resourceUsage().maxRSS * 1024;
  const ab0 = process.memoryUsage().arrayBuffers;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  guards.begin(path.join(dir, 'out'));
  let error;
  try {
    target.run(dir, input.main);
  } catch (e) {
    error = e;
  }
  const seen = guards.end();
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const wallMs = Date.now() - t0;
  const rssGrowth = process.resourceUsage().maxRSS * 1024 - rss0;
  const abGrowth = process.memoryUsage().arrayBuffers - ab0;
  const fail = [];
  let typed = false;
  if (error !== undefined) {
    const msg = error instanceof Error ? error.message : String(error);
    typed = error instanceof McError && error.exitCode === 2 && !msg.includes('\n') && msg.length > 0;
    if (!typed) {
      const name = error instanceof Error ? error.constructor.name : typeof error;
      fail.push({ kind: 'untyped', sig: `${name} at ${firstFrame(error)}`, detail: `${name}: ${msg.split('\n')[0].slice(0, 200)}` });
    }
  }
  if (cpuMs > CPU_LIMIT_MS) fail.push({ kind: 'slow', sig: 'slow', detail: `${Math.round(cpuMs)} ms CPU (${wallMs} ms wall)` });
  // A single allocation or the peak RSS over the limit fails; so does churning
  // through more than 1 GiB in total (streaming a legitimate, highly compressed
  // entry allocates and drops many chunks, which is not a failure by itself).
  if (seen.allocLargest > limit || rssGrowth > limit || abGrowth > limit || seen.allocTotal > limit + GIB) {
    fail.push({ kind: 'memory', sig: 'memory', detail: `allocated ${(seen.allocTotal / MIB).toFixed(1)} MiB (largest ${(seen.allocLargest / MIB).toFixed(1)}), peak RSS +${(rssGrowth / MIB).toFixed(1)} MiB, arrayBuffers +${(abGrowth / MIB).toFixed(1)} MiB; limit ${(limit / MIB).toFixed(1)} MiB` });
  }
  if (seen.writes.length) fail.push({ kind: 'write', sig: 'write', detail: seen.writes.slice(0, 3).join('; ') });
  return { fail, typed, cpuMs, allocTotal: seen.allocTotal, message: error instanceof Error ? error.message : undefined };
}

/** Shrinks the failing file of `input` (delta debugging on byte ranges) while the failure signature stays the same. */
function minimize(target, dir, input, sig, budget = 400) {
  let best = input;
  const names = Object.keys(input.files).filter((n) => input.files[n] instanceof Uint8Array);
  for (const name of names) {
    let chunk = Math.max(1, best.files[name].length >> 1);
    while (chunk >= 1 && budget > 0) {
      let progress = false;
      for (let at = 0; at < best.files[name].length && budget > 0; at += chunk) {
        const b = best.files[name];
        const cand = new Uint8Array(b.length - Math.min(chunk, b.length - at));
        cand.set(b.subarray(0, at));
        cand.set(b.subarray(at + chunk), at);
        const trial = { main: best.main, files: { ...best.files, [name]: cand } };
        budget--;
        const res = runCase(target, dir, trial);
        if (res.fail.some((f) => f.sig === sig)) {
          best = trial;
          progress = true;
          at -= chunk;
        }
      }
      if (!progress) chunk >>= 1;
    }
  }
  return best;
}

function saveInput(outRoot, parser, seed, input) {
  const dir = path.join(outRoot, `${parser}-${seed}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(input.files)) {
    const full = path.join(dir, name);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (data instanceof Uint8Array) fs.writeFileSync(full, data);
    else fs.writeFileSync(`${full}.symlink`, data.link);
  }
  fs.writeFileSync(path.join(dir, 'MAIN'), input.main);
  return dir;
}

function main() {
  const opts = JSON.parse(process.argv[2]);
  const target = loadTarget(opts.parser);
  const seeds = target.seeds();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `mc-fuzz-${opts.parser}-`));
  const dir = path.join(work, 'case');
  const send = (m) => process.send ? process.send(m) : console.log(JSON.stringify(m));
  const seen = new Set(opts.knownSigs ?? []);
  try {
    if (opts.selfTest) {
      // Each seed input once, without mutation: the guards must flag every one but the last.
      seeds.forEach((input, i) => {
        const res = runCase(target, dir, input);
        send({ t: 'self', i, expected: input.main.split('-')[0], got: res.fail.map((f) => f.kind), detail: res.fail.map((f) => f.detail).join('; ') });
      });
      return;
    }
    const list = opts.replaySeed !== undefined ? [{ i: -1, seed: opts.replaySeed }]
      : Array.from({ length: opts.count }, (_, k) => ({ i: opts.start + k, seed: caseSeed(opts.runSeed, opts.parser, opts.start + k) }));
    for (const { i, seed } of list) {
      send({ t: 'start', i, seed });
      const input = makeInput(target, seeds, seed);
      const res = runCase(target, dir, input);
      send({ t: 'res', typed: res.typed, accepted: !res.typed && !res.fail.length });
      if (opts.replaySeed !== undefined) send({ t: 'replay', seed, message: res.message, fail: res.fail, cpuMs: res.cpuMs, allocTotal: res.allocTotal });
      for (const f of res.fail) {
        let saved;
        if (!seen.has(f.sig) && opts.outDir) {
          seen.add(f.sig);
          const small = f.kind === 'untyped' || f.kind === 'write' ? minimize(target, dir, input, f.sig) : input;
          saved = saveInput(opts.outDir, opts.parser, seed, small);
        }
        send({ t: 'fail', i, seed, ...f, saved });
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const done = { t: 'done', peakRss: process.resourceUsage().maxRSS * 1024 };
  if (process.send) process.send(done, () => process.disconnect());
  else send(done);
}

if (require.main === module) main();
module.exports = { makeInput, runCase };
