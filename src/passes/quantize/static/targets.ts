/**
 * Static int8 forms by target CPU (`mc quantize --calib … --target`).
 *
 * What differs between CPUs is how onnxruntime's MLAS multiplies uint8
 * activations by int8 weights (U8S8; on x86 every int8 activation Q/DQ pair
 * becomes uint8 anyway: QDQS8ToU8Transformer, optimizer/qdq_transformer/qdq_s8_to_u8.cc,
 * runs because QDQIsInt8Allowed() is false off ARM, qdq_selector_action_transformer.h):
 *
 *  - AVX2, and AVX-512 without VNNI: the U8S8 GEMM (x86_64/QgemmU8S8KernelAvx2.S)
 *    and the symmetric conv kernel (x86_64/ConvSymKernelAvx2.S, MultiplyAccumulateRowAvx2)
 *    use vpmaddubsw, which adds the products of K-neighbours (2k, 2k+1) in
 *    saturating int16 before vpmaddwd widens them. |a₀w₀ + a₁w₁| ≤ 255·(|w₀|+|w₁|):
 *    a pair with a zero weight never saturates (255·128 = 32640 < 32767), nor does
 *    any pair with weights in [−64, 63] (onnxruntime's reduce_range), at one bit of
 *    weight precision.
 *  - AVX512-VNNI / AVX-VNNI (vpdpbusd(s)), AMX (tile dot products) and arm64
 *    (NEON widening multiplies, sdot/udot, smmla/ummla): products accumulate in
 *    int32, exact.
 *  - U8U8 (uint8 weights) on AVX2 widens both operands to int16 and uses
 *    vpmaddwd (x86_64/QgemmU8U8KernelAvx2.S): exact, but QLinearConv then loses
 *    the symmetric conv kernel (qlinearconv.cc, TryConvSymPrepack: int8 weights
 *    with zero point 0 only) and no VNNI kernel exists for it on AVX512-VNNI.
 *  - S8S8 on x86 without AVX-VNNI-INT8 is MlasGemmQuantDispatchDefault, portable
 *    C++ (mlasi.h: GemmS8S8Dispatch{&MlasGemmQuantDispatchDefault}): exact but slow,
 *    and reached only with the session option session.qdqisint8allowed.
 *
 * Where it bites is the first layer: image codes cover 0…255 densely, and a
 * Conv whose input channels pair two real channels (RGB padded as [r, g, b, 0],
 * or the space-to-depth rewrite's 4 neighbouring pixels as 4 channels) can
 * saturate on bright inputs. ReLU-fed layers see mostly small codes: issue 10
 * measured the fixture CNN's plain form at 42.2 dB on an AVX2-only EPYC, and
 * with 7-bit weights everywhere 36.3 dB — so reduce-range is no target's
 * default; it would cost more than the saturation it rules out there.
 */
import type { StaticTarget } from './options';

export interface TargetForms {
  /** Apply the first-layer SpaceToDepth → Conv → Split → Max rewrite (space-to-depth-pool.ts; exact only where products add in int32). */
  spaceToDepth: boolean;
  /** Interleave a zero channel after each input channel of convolutions that read the model input (pad-channels.ts). */
  pairSafeFirstLayers: boolean;
  /** Why, for the report. */
  reason: string;
}

const FORMS: Record<StaticTarget, TargetForms> = {
  portable: {
    spaceToDepth: false, pairSafeFirstLayers: true,
    reason: 'exact integer arithmetic on every CPU in the layers fed by the model input (no two non-zero weights in an int16 pair that AVX2 kernels add); no space-to-depth rewrite',
  },
  avx2: {
    spaceToDepth: false, pairSafeFirstLayers: true,
    reason: 'the forms of portable: the first layers cannot saturate vpmaddubsw\'s int16 pairs, and the space-to-depth rewrite (dense pixel pairs) is left out',
  },
  'avx512-vnni': {
    spaceToDepth: true, pairSafeFirstLayers: false,
    reason: 'products accumulate in int32 (VNNI; also AMX): the space-to-depth rewrite and plain channel padding are exact and fastest there; on AVX2 they can saturate',
  },
  arm64: {
    // The rewrite stores activations as uint8 here too (U8S8 is exact on ARM: udot/ummla). Keeping int8 would let ARM
    // run S8S8 (QDQIsInt8Allowed is true there) but cannot be measured on this project's x86 machines, where that
    // model ran at 1.7× float (its first conv is not fused).
    spaceToDepth: true, pairSafeFirstLayers: false,
    reason: 'products accumulate in int32 (NEON, sdot/udot, i8mm): the space-to-depth rewrite and plain channel padding are exact there',
  },
};

export function formsFor(target: StaticTarget): TargetForms {
  return FORMS[target];
}
