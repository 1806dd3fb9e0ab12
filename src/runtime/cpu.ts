/**
 * The CPU that runs the model, and the instruction-set features that decide
 * which int8 kernels onnxruntime's MLAS picks (onnxruntime/core/mlas/lib/platform.cpp,
 * MLAS_PLATFORM::MLAS_PLATFORM):
 *
 *  - x86 with AVX2 but no VNNI (and AVX-512 without VNNI): u8×s8 GEMM and the
 *    symmetric conv kernels multiply with vpmaddubsw, which adds each PAIR of
 *    u8·s8 products in saturating int16 (x86_64/QgemmU8S8KernelAvx2.S,
 *    x86_64/ConvSymKernelAvx2.S, MultiplyAccumulateRowAvx2). Results can differ
 *    from exact integer arithmetic.
 *  - x86 with AVX512_VNNI or AVX_VNNI: vpdpbusd(s) sums the four products in
 *    int32 (MultiplyAccumulateRowAvxVnni): exact.
 *  - AMX-INT8: tile multiplies accumulate in int32 (MlasGemmU8S8DispatchAmx): exact.
 *  - arm64: NEON (widening multiplies), dot product (asimddp: sdot/udot) and
 *    i8mm (smmla/ummla) accumulate in int32: exact.
 *
 * Read from /proc/cpuinfo (Linux); elsewhere only the model name from
 * os.cpus() is known, and the flags are reported as unknown (null), never guessed.
 */
import * as fs from 'fs';
import * as os from 'os';

/** The int8 kernel family onnxruntime takes on this CPU. */
export type Int8Path = 'avx512-vnni' | 'avx-vnni' | 'amx' | 'avx2' | 'arm64' | 'other' | 'unknown';

export interface CpuInfo {
  /** e.g. "AMD EPYC", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"; null when unknown. */
  model: string | null;
  /** process.arch: 'x64', 'arm64', ... */
  arch: string;
  /** Int8-relevant ISA flags present, in /proc/cpuinfo spelling (avx2, avx512f, avx512_vnni, avx_vnni, amx_int8, asimddp, i8mm); null when they cannot be read. */
  isa: string[] | null;
  /** Which int8 kernels onnxruntime uses here, from the flags. */
  int8: Int8Path;
  /** True when u8×s8 products are summed pairwise in saturating int16 (AVX2 or AVX-512 without VNNI); null when unknown. */
  u8s8Saturates: boolean | null;
}

/** Flags that decide MLAS's int8 dispatch, in the order they are reported. */
export const INT8_FLAGS = ['avx2', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'avx_vnni_int8', 'amx_int8', 'asimddp', 'i8mm'] as const;

/** Parses the text of /proc/cpuinfo (x86 "flags", arm64 "Features"); exported for tests. */
export function parseCpuinfo(text: string, arch: string): CpuInfo {
  const field = (name: string): string | undefined => {
    const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'mi').exec(text);
    return m ? m[1].trim() : undefined;
  };
  const model = field('model name') ?? field('Hardware') ?? field('CPU part') ?? null;
  const flagsLine = field('flags') ?? field('Features');
  const isa = flagsLine === undefined ? null : INT8_FLAGS.filter((f) => flagsLine.split(/\s+/).includes(f));
  return { model: model || null, arch, isa, ...int8Path(isa, arch) };
}

function int8Path(isa: readonly string[] | null, arch: string): Pick<CpuInfo, 'int8' | 'u8s8Saturates'> {
  if (arch === 'arm64') return { int8: 'arm64', u8s8Saturates: false };
  if (arch !== 'x64' && arch !== 'ia32') return { int8: 'other', u8s8Saturates: null };
  if (isa === null) return { int8: 'unknown', u8s8Saturates: null };
  const has = (f: string): boolean => isa.includes(f);
  // platform.cpp: AMX replaces the U8S8 dispatch; AVX512_VNNI needs AVX512F+BW (the "core" check); AVX_VNNI needs AVX2.
  if (has('amx_int8')) return { int8: 'amx', u8s8Saturates: false };
  if (has('avx512_vnni') && has('avx512f') && has('avx512bw')) return { int8: 'avx512-vnni', u8s8Saturates: false };
  if (has('avx_vnni') && has('avx2')) return { int8: 'avx-vnni', u8s8Saturates: false };
  if (has('avx2')) return { int8: 'avx2', u8s8Saturates: true };
  // SSE-only x86: MlasGemmU8X8DispatchSse widens to int16 and uses pmaddwd (exact) — rare enough to call "other".
  return { int8: 'other', u8s8Saturates: false };
}

let cached: CpuInfo | undefined;

/** The CPU of this process (read once). */
export function detectCpu(): CpuInfo {
  if (cached) return cached;
  let text: string | undefined;
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    cached = parseCpuinfo(text, process.arch);
  } else {
    const model = os.cpus()[0]?.model?.trim() || null;
    cached = { model, arch: process.arch, isa: null, ...int8Path(process.arch === 'arm64' ? [] : null, process.arch) };
  }
  return cached;
}

/** A short description for reports: "AMD EPYC (x64; avx2 avx512f avx512bw avx512_vnni; int8 path avx512-vnni)". */
export function cpuLine(c: CpuInfo): string {
  const isa = c.isa === null ? 'ISA unknown' : c.isa.length ? c.isa.join(' ') : 'no int8 ISA extensions';
  const path = c.u8s8Saturates ? `int8 path ${c.int8}: u8×s8 pairs saturate in int16` : `int8 path ${c.int8}`;
  return `${c.model ?? 'unknown CPU'} (${c.arch}; ${isa}; ${path})`;
}
