'use strict';
/**
 * Runs one `mc` command in this process through the CLI's own entry point
 * (dist/cli/main.js main, as bin/mc does) and, when the process exits, writes
 * one JSON line to the file named by MC_BENCH_STATS: wall seconds, CPU
 * seconds, peak RSS (process.resourceUsage().maxRSS, which covers every
 * thread of the process, workers included) and the bytes this process read
 * and wrote through system calls (/proc/self/io rchar/wchar, page-cache hits
 * included: the number that shows whether weights were read at all).
 * Usage: MC_BENCH_STATS=f node bench/huge-child.js quantize in.onnx -o out.onnx --bits 8
 */
const fs = require('fs');
const path = require('path');

const statsFile = process.env.MC_BENCH_STATS;
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();

function io() {
  try {
    const text = fs.readFileSync('/proc/self/io', 'utf8');
    const get = (k) => Number((text.match(new RegExp(`^${k}: (\\d+)`, 'm')) ?? [])[1] ?? NaN);
    return { rchar: get('rchar'), wchar: get('wchar') };
  } catch {
    return { rchar: NaN, wchar: NaN };
  }
}
const io0 = io();

process.on('exit', (code) => {
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const io1 = io();
  const line = JSON.stringify({
    code, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssBytes: process.resourceUsage().maxRSS * 1024,
    readBytes: io1.rchar - io0.rchar, writtenBytes: io1.wchar - io0.wchar,
  });
  if (statsFile) fs.writeFileSync(statsFile, line + '\n');
});

const { main } = require(path.join(__dirname, '..', 'dist', 'cli', 'main.js'));
main(['node', 'mc', ...process.argv.slice(2)]);
