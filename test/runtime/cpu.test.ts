/**
 * CPU detection (src/runtime/cpu.ts): which int8 kernel family onnxruntime's
 * MLAS takes, from /proc/cpuinfo text. The cases are the dispatch rules of
 * onnxruntime/core/mlas/lib/platform.cpp.
 */
import * as fs from 'fs';
import { detectCpu, parseCpuinfo } from '../../src/runtime/cpu';

const X86_BASE = 'fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi2';

test.each<[string, string, string, string, boolean | null, string[]]>([
  ['AVX2-only AMD EPYC (Zen 2)', 'x64', 'AMD EPYC 7B12', `${X86_BASE} avx2 sha_ni`, true, ['avx2']],
  ['Zen 4: AVX-512 with VNNI', 'x64', 'AMD EPYC', `${X86_BASE} avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni`, false, ['avx2', 'avx512f', 'avx512bw', 'avx512_vnni']],
  ['Skylake-SP: AVX-512 without VNNI saturates like AVX2', 'x64', 'Intel(R) Xeon(R) Gold 6148', `${X86_BASE} avx2 avx512f avx512bw avx512vl`, true, ['avx2', 'avx512f', 'avx512bw']],
  ['Alder Lake: AVX-VNNI', 'x64', '12th Gen Intel(R) Core(TM) i7-12700', `${X86_BASE} avx2 avx_vnni`, false, ['avx2', 'avx_vnni']],
  ['Sapphire Rapids: AMX', 'x64', 'Intel(R) Xeon(R) Platinum 8480+', `${X86_BASE} avx2 avx512f avx512bw avx512_vnni amx_bf16 amx_tile amx_int8`, false, ['avx2', 'avx512f', 'avx512bw', 'avx512_vnni', 'amx_int8']],
])('%s', (_, arch, model, flags, saturates, isa) => {
  const c = parseCpuinfo(`processor\t: 0\nvendor_id\t: X\nmodel name\t: ${model}\nflags\t\t: ${flags}\n\nprocessor\t: 1\n`, arch);
  expect(c.model).toBe(model);
  expect(c.isa).toEqual(isa);
  expect(c.u8s8Saturates).toBe(saturates);
  expect(c.int8).toBe(saturates ? 'avx2' : isa.includes('amx_int8') ? 'amx' : isa.includes('avx512_vnni') ? 'avx512-vnni' : 'avx-vnni');
});

test('arm64: Features line, dot product and i8mm', () => {
  const c = parseCpuinfo('processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp i8mm\nCPU part\t: 0xd40\n', 'arm64');
  expect(c.isa).toEqual(['asimddp', 'i8mm']);
  expect(c.int8).toBe('arm64');
  expect(c.u8s8Saturates).toBe(false);
});

test('flags that cannot be read are unknown, not guessed', () => {
  const c = parseCpuinfo('model name\t: Some CPU\n', 'x64');
  expect(c.isa).toBeNull();
  expect(c.int8).toBe('unknown');
  expect(c.u8s8Saturates).toBeNull();
});

test('this machine, against /proc/cpuinfo read here', () => {
  const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const flags = (/^(flags|Features)\s*:\s*(.*)$/m.exec(text)?.[2] ?? '').split(/\s+/);
  const c = detectCpu();
  expect(c.arch).toBe(process.arch);
  for (const f of ['avx2', 'avx512_vnni', 'asimddp']) expect(c.isa?.includes(f) ?? false).toBe(flags.includes(f));
  if (process.arch === 'x64') expect(c.u8s8Saturates).toBe(flags.includes('avx2') && !flags.includes('avx512_vnni') && !flags.includes('avx_vnni') && !flags.includes('amx_int8'));
});
