/**
 * Static int8 forms by target CPU (`mc quantize --calib … --target`).
 *
 * What differs between CPUs is how onnxruntime's MLAS multiplies uint8
 * activations by int8 weights (U8S8; on x86 every int8 activation Q/DQ pair is
 * turned into uint8 by QDQS8ToU8Transformer, optimizer/qdq_transformer/qdq_s8_to_u8.cc,
 * because QDQIsInt8Allowed() is false off ARM, qdq_selector_action_transformer.h):
 *
 *  - AVX2, and AVX-512 without VNNI: the U8S8 GEMM (x86_64/QgemmU8S8KernelAvx2.S)
 *    and the symmetric conv kernel (x86_64/ConvSymKernelAvx2.S, MultiplyAccumulateRowAvx2)
 *    use vpmaddubsw: the products of K-neighbours (2k, 2k+1) are added in
 *    saturating int16 before vpmaddwd widens them. A pair saturates only when
 *    both products are large with the same sign: |a₀w₀ + a₁w₁| ≤ 255·(|w₀|+|w₁|),
 *    so a pair with one zero weight never does (255·128 = 32640 < 32767).
 *    Weights in [−64, 63] (ORT's reduce_range) make every pair safe, at one bit of
 *    weight precision.
 *  - AVX512-VNNI / AVX-VNNI (vpdpbusd(s)), AMX (tile dot products) and arm64
 *    (NEON widening multiplies, sdot/udot, smmla/ummla): products accumulate in
 *    int32, exact.
 *  - U8U8 (uint8 weights) on AVX2 widens both operands to int16 and uses
 *    vpmaddwd (x86_64/QgemmU8U8KernelAvx2.S): exact, but QLinearConv then
 *    loses the symmetric conv kernel (qlinearconv.cc takes it only for int8
 *    weights with zero point 0) and runs im2col + GEMM.
 *  - S8S8 on x86 without AVX-VNNI-INT8 is MlasGemmQuantDispatchDefault, portable
 *    C++ (mlasi.h: GemmS8S8Dispatch{&MlasGemmQuantDispatchDefault}): exact and slow,
 *    and only reachable with the session option session.qdqisint8allowed.
 *
 * So the forms mc emits are exact everywhere except one: the first-layer
 * space-to-depth rewrite in its dense layout, which puts 4 neighbouring pixels
 * side by side as channels — on AVX2 they pair up in vpmaddubsw, and bright
 * images saturate (space-to-depth-pool.ts). The plain Conv it replaces pads a
 * 1-channel input to 4 channels with zero weights, so its pairs are safe. The
 * other layers' forms do not depend on the target: they are the same U8S8
 * QLinearConv/QLinearMatMul in every form mc has, with full-range weights.
 * Measured on an AVX2-only EPYC (issue 10), the plain form gave 42.2 dB on
 * the fixture CNN and the same with 7-bit weights 36.3 dB: saturation in the
 * ReLU-fed layers cost less than the bit that would rule it out, so
 * reduce-range is not a default for any target.
 */
import type { StaticTarget } from './options';
import type { SpaceToDepthLayout } from './space-to-depth-pool';

export interface TargetForms {
  /** Layout of the first-layer SpaceToDepth → Conv → Split → Max rewrite. */
  spaceToDepthLayout: SpaceToDepthLayout;
  /**
   * Move int8 activations to uint8 storage when that rewrite applies: on x86, onnxruntime converts int8 Q/DQ
   * pairs to uint8 but not the explicit integer Split → Max, and a Conv with mixed int8/uint8 would not fuse.
   */
  uint8Storage: boolean;
  /** Why, for the report. */
  reason: string;
}

const FORMS: Record<StaticTarget, TargetForms> = {
  portable: {
    spaceToDepthLayout: 'pair-safe', uint8Storage: true,
    reason: 'every int16 pair that AVX2 int8 kernels add holds at most one non-zero weight in the rewritten first layer, so its outputs are exact on every CPU',
  },
  avx2: {
    spaceToDepthLayout: 'pair-safe', uint8Storage: true,
    reason: 'the rewritten first layer keeps a zero-weight channel beside each input channel, so vpmaddubsw cannot saturate there',
  },
  'avx512-vnni': {
    spaceToDepthLayout: 'dense', uint8Storage: true,
    reason: 'the dense rewrite (4 pixels as 4 channels) is exact where products accumulate in int32 (VNNI, AMX, arm64) and can saturate on AVX2',
  },
  arm64: {
    spaceToDepthLayout: 'dense', uint8Storage: false,
    reason: 'the dense rewrite, int8 activations kept (onnxruntime runs int8 QDQ natively on ARM: QDQIsInt8Allowed)',
  },
};

export function formsFor(target: StaticTarget): TargetForms {
  return FORMS[target];
}
