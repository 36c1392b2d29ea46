// Per-element int8 kernels with ISA tiers: the 256-entry lookup behind the int8 activations, the
// depthwise conv (kernels/depthwise.h), the residual Add and input quantization. Scalar versions are the specification.
#pragma once

#include <cstdint>

#include "agent/engine/kernels/cpu_features.h"
#include "agent/engine/kernels/depthwise.h"

namespace edge::engine {

// out[i] = table[(uint8_t)x[i]]
using LutFn = void (*)(const int8_t* x, int64_t n, const int8_t* table, int8_t* out);

// Same-shape int8 Add: y = sat(round_half_even(clamp(ra*(a - za) + rb*(b - zb))) + zo), float
// multiply and add kept separate (never fused), as in the scalar kernel.
struct QAddArgs {
  const int8_t* a;
  const int8_t* b;
  int64_t n;
  float ra, rb;
  int32_t za, zb, zo, qmin, qmax;
  int8_t* y;
};
using QAddFn = void (*)(const QAddArgs& args);

// QuantizeLinear of floats: y = sat(round_half_even(x / scale) + zp), NaN saturating low.
using QuantizeFn = void (*)(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);

// dst[p][j] = src[j][p] + 128 (as uint8) for p < n: the GEMM operand of a 1x1 conv, four
// channel planes per k-group. Pure data movement; reads no byte past src[j][n - 1].
using Interleave4Fn = void (*)(const int8_t* const src[4], int64_t n, uint8_t* dst);

// SplitDepthwisePhases (kernels/depthwise.h) or a tier's faster form of it.
using DepthwiseSplitFn = void (*)(const int8_t* x, const ConvGeometry& g, const DepthwisePlan& plan,
                                  int64_t channels, int8_t* phases);

// InterleavePaddedU8 (kernels/im2col_u8.h) or a tier's faster form of it.
using InterleavePaddedFn = void (*)(const int8_t* x, const ConvGeometry& g, int64_t hp, int64_t wp,
                                    uint8_t pad_byte, const int8_t* pad_row, int64_t block_stride, uint8_t* out);

struct ElementwiseKernels {
  LutFn lut;
  DepthwiseFn depthwise;
  DepthwiseSplitFn depthwise_split;
  QAddFn qadd;
  QuantizeFn quantize;
  Interleave4Fn interleave4;
  InterleavePaddedFn interleave_padded;
  Im2colRowsFn im2col_rows;
};

void QAddScalar(const QAddArgs& args);
// QAddScalar on elements [done, n): the tail a SIMD tier leaves.
void QAddScalarFrom(const QAddArgs& args, int64_t done);
// True where converting with the CPU's round-to-nearest-even instruction (cvtps2dq, fcvtns)
// equals RoundHalfEvenSmall for every value clamped to [lo, hi]: both within 2^22. SIMD tiers
// give calls outside (zero points no int8 model has) to the scalar kernel.
bool RoundsExactlyBySimd(float lo, float hi);
void QAddAvx2(const QAddArgs& args);
void QAddAvx512(const QAddArgs& args);
void QuantizeScalar(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);
void QuantizeAvx2(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);
void QuantizeAvx512(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);

void Interleave4Avx512(const int8_t* const src[4], int64_t n, uint8_t* dst);
// Im2colRowsFn (kernels/im2col_u8.h) 64 output pixels per step.
void Im2colRowsAvx512(const int8_t* const p[4], const int64_t row_step[4], int64_t rows, int64_t width,
                      uint8_t* dst);
// InterleavePaddedU8 with whole rows per vector where they are 16, 32 or 64 bytes (stride 1).
void InterleavePaddedAvx512(const int8_t* x, const ConvGeometry& g, int64_t hp, int64_t wp, uint8_t pad_byte,
                            const int8_t* pad_row, int64_t block_stride, uint8_t* out);

void LutScalar(const int8_t* x, int64_t n, const int8_t* table, int8_t* out);
void LutAvx2(const int8_t* x, int64_t n, const int8_t* table, int8_t* out);
void LutAvx512Vbmi(const int8_t* x, int64_t n, const int8_t* table, int8_t* out);

// arm64 Advanced SIMD (kernels/elementwise_neon.cpp, depthwise_neon.cpp): every arm64 tier.
void LutNeon(const int8_t* x, int64_t n, const int8_t* table, int8_t* out);
void QAddNeon(const QAddArgs& args);
void QuantizeNeon(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);

// The kernels for a tier: the AVX-512 tier uses VBMI for lookups only where the CPU has it
// (the AVX2 lookup otherwise).
const ElementwiseKernels& ElementwiseForTier(KernelTier tier);

}  // namespace edge::engine
