// The one place that maps a kernel tier to its implementation. Each architecture compiles only
// its own kernel files (agent/engine/CMakeLists.txt); kScalar is everywhere.
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/kernels/qgemm.h"
#if defined(__x86_64__)
#include "agent/engine/kernels/qgemm_amx.h"
#endif

namespace edge::engine {

QGemmFn QGemmForTier(KernelTier tier) {
  switch (EffectiveTier(tier)) {
#if defined(__x86_64__)
    case KernelTier::kAmx: return &QGemmAmx;
    case KernelTier::kAvx512Vnni: return &QGemmAvx512Vnni;
    case KernelTier::kAvxVnni: return &QGemmAvxVnni;
    case KernelTier::kAvx2: return &QGemmAvx2;
#elif defined(__aarch64__)
    case KernelTier::kI8mm: return &QGemmI8mm;
    case KernelTier::kNeonDot: return &QGemmNeonDot;
    case KernelTier::kNeon: return &QGemmNeon;
#endif
    default: return &QGemmScalar;
  }
}

bool QGemmTakesColumnAdd(QGemmFn kernel) {
#if defined(__x86_64__)
  return kernel == &QGemmAvx512Vnni;
#else
  (void)kernel;
  return false;
#endif
}

namespace {
// A table with its plane extremes (and depthwise_unsplit, avg_pool_2x2, tap_word_rows) set: the
// members after the optional Winograd kernel.
ElementwiseKernels WithPlaneMax(ElementwiseKernels k, PlaneMaxFn plane_max, PlaneMinFn plane_min,
                                FloatPlaneExtremeFn float_extreme, DepthwiseUnsplitFn unsplit = nullptr,
                                AvgPool2x2Fn avg_pool_2x2 = nullptr, TapWordRowsFn tap_word_rows = &TapWordRowsU8) {
  k.plane_max = plane_max;
  k.plane_min = plane_min;
  k.float_plane_extreme = float_extreme;
  k.depthwise_unsplit = unsplit;
  k.avg_pool_2x2 = avg_pool_2x2;
  k.tap_word_rows = tap_word_rows;
  return k;
}
}  // namespace

const ElementwiseKernels& ElementwiseForTier(KernelTier tier) {
  // The layout kernels of the scalar tier (Interleave4RowsU8, InterleavePaddedU8,
  // Im2colRowsStride2U8, SplitDepthwisePhases) are 128-bit SIMD on both architectures
  // (kernels/simd128.h): pure data movement, identical bytes by construction.
  static const ElementwiseKernels scalar = WithPlaneMax({&LutScalar,      &DepthwiseScalar,   &SplitDepthwisePhases,
                                         &QAddScalar,     &QuantizeScalar,    &Interleave4RowsU8,
                                         &InterleavePaddedU8, &Im2colRowsStride2U8,
                                         &QBinaryRunScalar, &QRequantScalar, &PlaneSumScalar, &MaxPoolRowScalar, &TransposeBytesScalar,
                                         &QMeanScalar, &WindowSumRowScalar, &QMatMulExactScalar, &ExpShiftedScalar,
                                         &InterleaveStridedU8, &DequantizeScalar, &QFloatBinaryRunScalar},
      &PlaneMaxScalar, &PlaneMinScalar, &FloatPlaneExtremeScalar);
  const KernelTier effective = EffectiveTier(tier);
#if defined(__x86_64__)
  static const ElementwiseKernels avx2 = [] {
    ElementwiseKernels k = WithPlaneMax({&LutAvx2,  &DepthwiseAvx2,     &SplitDepthwisePhases,
                                       &QAddAvx2, &QuantizeAvx2,    &Interleave4RowsU8,
                                       &InterleavePaddedU8, &Im2colRowsStride2U8,
                                       &QBinaryRunAvx2, &QRequantAvx2, &PlaneSumAvx2, &MaxPoolRowAvx2, &TransposeBytesAvx2,
                                       &QMeanAvx2, &WindowSumRowAvx2, &QMatMulExactAvx2, &ExpShiftedAvx2,
                                       &InterleaveStridedAvx2, &DequantizeAvx2, &QFloatBinaryRunAvx2,
                                       &WinogradAvx2},
      &PlaneMaxAvx2, &PlaneMinAvx2, &FloatPlaneExtremeAvx2, &DepthwiseUnsplitAvx2, &AvgPool2x2Avx2,
                                       &TapWordRowsAvx2);
    k.float_conv_row = &FloatConvRowAvx2;
    k.float_conv_plane = &FloatConvPlaneAvx2;
    k.rows_times_matrix = &RowsTimesMatrixAvx2;
    k.cell_activation = &CellActivationAvx2;
    k.float_transcendental = &FloatTranscendentalAvx2;
    return k;
  }();
  // AVX-VNNI has its own dot-product kernels (GEMM above, depthwise); the rest is AVX2 code.
  static const ElementwiseKernels avxvnni = [] {
    ElementwiseKernels k = avx2;
    k.depthwise = &DepthwiseAvxVnni;
    k.depthwise_unsplit = nullptr;  // its kernel reads the split phases
    // its GEMM (vpdpbusd: twice vpmaddwd's int8 rate) beats the Winograd kernel, which is
    // vpmaddwd either way (docs/engine.md, "The AVX2 tier")
    k.winograd3x3 = nullptr;
    return k;
  }();
  // Where an AVX-512 tier has no form of its own it uses the AVX2 kernel (AVX2 is part of it).
  static const ElementwiseKernels avx512 = [] {
    ElementwiseKernels k = WithPlaneMax({CpuHasAvx512Vbmi() ? &LutAvx512Vbmi : &LutAvx2,
                                         &DepthwiseAvx512Vnni,
                                         &SplitDepthwisePhasesAvx512,
                                         &QAddAvx512,
                                         &QuantizeAvx512,
                                         &Interleave4Avx512,
                                         &InterleavePaddedAvx512,
                                         CpuHasAvx512Vbmi() ? &Im2colRowsAvx512Vbmi : &Im2colRowsAvx512,
                                         &QBinaryRunAvx512,
                                         &QRequantAvx512,
                                         &PlaneSumAvx512,
                                         CpuHasAvx512Vbmi() ? &MaxPoolRowAvx512Vbmi : &MaxPoolRowAvx2,
                                         &TransposeBytesAvx2,
                                         &QMeanAvx512,
                                         CpuHasAvx512Vbmi() ? &WindowSumRowAvx512Vbmi : &WindowSumRowAvx2,
                                         &QMatMulExactAvx512,
                                         &ExpShiftedAvx512,
                                         CpuHasAvx512Vbmi() ? &InterleaveStridedAvx512Vbmi : &InterleaveStridedAvx2,
                                         &DequantizeAvx512, &QFloatBinaryRunAvx512},
      &PlaneMaxAvx2, &PlaneMinAvx2, &FloatPlaneExtremeAvx2, nullptr, &AvgPool2x2Avx2,
                                         CpuHasAvx512Vbmi() ? &TapWordRowsAvx512Vbmi : &TapWordRowsAvx2);
    // the members only the AVX-512 tiers have (null elsewhere)
    k.maxpool_planes = CpuHasAvx512Vbmi() ? &MaxPoolPlanesAvx512Vbmi : nullptr;
    k.layernorm_rows = &LayerNormRowsAvx512;
    k.float_conv_row = &FloatConvRowAvx512;
    k.float_conv_plane = &FloatConvPlaneAvx512;
    k.rows_times_matrix = &RowsTimesMatrixAvx512;
    k.cell_activation = &CellActivationAvx512;
    k.float_transcendental = &FloatTranscendentalAvx512;
    k.row_sums = &RowSumsAvx512;
    k.qmatmul_int = &QMatMulAvx512Vnni;
    k.gather_words = &GatherWordRowsAvx512;
    k.lookup_floats = &LookupFloatsAvx512;
    return k;
  }();
  if (effective == KernelTier::kAvx512Vnni || effective == KernelTier::kAmx) return avx512;
  if (effective == KernelTier::kAvxVnni) return avxvnni;
  if (effective == KernelTier::kAvx2) return avx2;
#elif defined(__aarch64__)
  static const ElementwiseKernels neon = WithPlaneMax({&LutNeon,   &DepthwiseNeon,  &SplitDepthwisePhases,
                                       &QAddNeon,  &QuantizeNeon,   &Interleave4RowsU8,
                                       &InterleavePaddedU8, &Im2colRowsStride2U8,
                                       &QBinaryRunScalar, &QRequantScalar, &PlaneSumScalar, &MaxPoolRowScalar, &TransposeBytesScalar,
                                       &QMeanScalar, &WindowSumRowScalar, &QMatMulExactScalar, &ExpShiftedScalar,
                                         &InterleaveStridedU8, &DequantizeScalar, &QFloatBinaryRunScalar},
      &PlaneMaxScalar, &PlaneMinScalar, &FloatPlaneExtremeScalar);
  if (effective == KernelTier::kNeon || effective == KernelTier::kNeonDot || effective == KernelTier::kI8mm) {
    return neon;
  }
#endif
  return scalar;
}

}  // namespace edge::engine
