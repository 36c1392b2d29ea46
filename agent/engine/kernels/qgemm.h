// The int8 matrix kernel behind Conv, Gemm and MatMul, and its requantization.
//
//   acc[m][n] = sum_k L[m][k] * R[k][n] + bias[ch]          (exact int32)
//   out[m][n] = clamp(nearbyint(clamp_f((float)acc * mult[ch])) + zp, qmin, qmax)
//
// Activations are shifted to unsigned (x + 128) so that each step is one u8 x s8 VNNI
// instruction without saturation; the shift and the activation zero point are folded into
// `bias` when weights are packed (bias_eff = bias - (128 + zp_x) * sum_k w). The scalar kernel
// is the specification: every SIMD tier must produce identical bytes.
#pragma once

#include <cmath>
#include <cstdint>

#include "agent/engine/kernels/cpu_features.h"

namespace edge::engine {

inline constexpr int64_t kQGemmColumnAlign = 16;  // R is padded to a multiple of this many columns

inline int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Columns of a packed right operand: n rounded up to 16, plus 16 when the byte stride between
// k-groups (4 * columns) would be a multiple of 512. Power-of-two strides map a column
// panel's k-groups onto a few L1 sets and evict it while it is being reused.
inline int64_t PackedColumns(int64_t n) {
  const int64_t np = RoundUp(n, kQGemmColumnAlign);
  return (np * 4) % 512 == 0 ? np + kQGemmColumnAlign : np;
}

enum class QGemmWeights {
  kLeft,   // Conv: L = weights (s8, one row per output channel), R = activations (u8)
  kRight,  // Gemm: L = activations (u8, one row per output row), R = weights (s8, one column per channel)
};

// A MatMul's bias Add done in its epilogue (weights on the right): the requantized code c of
// output (i, j) (zero_point, qmin, qmax as ever) becomes the one-pass float Add's result,
//   SaturateToInt8(min(hi, max(lo, scale_in * (c - zero_point) + add[j])) / scale_out, zero_point_out)
// with its operations in that order (QFloatBinaryRunArgs: the same bytes as that step after the
// GEMM). Only kernels for which QGemmTakesColumnAdd holds read it; for the others the caller
// runs the Add after the GEMM.
struct QGemmColumnAdd {
  const float* add = nullptr;  // [np], zero past n
  float scale_in = 1.0f, scale_out = 1.0f;
  float lo = -INFINITY, hi = INFINITY;  // a folded Relu or Clip
  int32_t zero_point_out = 0;
};

struct QGemmArgs {
  QGemmWeights weights = QGemmWeights::kRight;
  int64_t m = 0, n = 0;
  int64_t kp = 0;                 // K rounded up to a multiple of 4, zero padded in L and R
  const uint8_t* left = nullptr;  // [m][kp] (bytes; signedness from `weights`)
  const uint8_t* right = nullptr; // packed [kp/4][np][4], np = RoundUp(n, 16), padding zero
  int64_t np = 0;
  // Optional: k-group g of R starts at right_groups[g] (column 0) instead of right + g*np*4.
  // Implicit-GEMM convolution points each group at a shifted view of one interleaved input.
  const uint8_t* const* right_groups = nullptr;
  // Optional, weights on the left (kLeft): the same rows widened to int16 in the AVX2 kernel's
  // layout (WidenLeftS8), built once when the weights are packed so that the AVX2 kernel does
  // not widen them on every call. Every other tier ignores it.
  const int16_t* left_widened = nullptr;
  const int32_t* bias = nullptr;  // per channel: [m] for kLeft, [np] for kRight
  // The same bias for kernels that multiply signed activations (the byte ^ 0x80, i.e. x + zp
  // before the shift), such as arm64's s8 x s8 SDOT: bias + 128 * sum_k w (mod 2^32), so that
  // sum_k (u - 128) * w + bias_signed == sum_k u * w + bias. Indexed like `bias`.
  const int32_t* bias_signed = nullptr;
  const float* mult = nullptr;    // same indexing as bias
  int32_t zero_point = 0;
  int32_t qmin = -128, qmax = 127;
  int8_t* out = nullptr;          // out[m * ldo + n]
  int64_t ldo = 0;
  // Optional (grid_pitch > 0): the columns are a grid of rows of grid_pitch columns whose first
  // grid_width are outputs. Column n = row * grid_pitch + col goes to out[m * ldo + row *
  // grid_width + col] when col < grid_width and is not stored otherwise, so an implicit-GEMM
  // conv writes its output planes directly (no copy-out of the padded-width grid).
  int64_t grid_pitch = 0, grid_width = 0;
  // Optional, weights on the right, where QGemmTakesColumnAdd(kernel): see QGemmColumnAdd.
  const QGemmColumnAdd* column_add = nullptr;
};

using QGemmFn = void (*)(const QGemmArgs&);

void QGemmScalar(const QGemmArgs& args);
// x86-64 (kernels/qgemm_avx2.cpp, qgemm_avx512vnni.cpp, qgemm_amx.cpp)
void QGemmAvx2(const QGemmArgs& args);
void QGemmAvxVnni(const QGemmArgs& args);  // in qgemm_avx2.cpp
void QGemmAvx512Vnni(const QGemmArgs& args);
// arm64 (kernels/qgemm_neon.cpp, qgemm_neondot.cpp, qgemm_i8mm.cpp)
void QGemmNeon(const QGemmArgs& args);
void QGemmNeonDot(const QGemmArgs& args);  // uses bias_signed
void QGemmI8mm(const QGemmArgs& args);

// The kernel for a tier (kAuto and unsupported tiers resolve via EffectiveTier).
QGemmFn QGemmForTier(KernelTier tier);
// Whether a kernel applies QGemmArgs::column_add (the AVX-512 VNNI one).
bool QGemmTakesColumnAdd(QGemmFn kernel);

// Where column n of a row is stored (an offset from out + m * ldo), or -1 where it is not.
inline int64_t StoredColumn(const QGemmArgs& a, int64_t n) {
  if (a.grid_pitch == 0) return n;
  const int64_t row = n / a.grid_pitch, col = n - row * a.grid_pitch;
  return col < a.grid_width ? row * a.grid_width + col : -1;
}

// The int32 accumulator wraps modulo 2^32, as the SIMD tiers' vector adds do. The scalar code
// adds through this because a plain `+` would be undefined on overflow, and a model's bias
// (after the zero-point correction is folded in) may sit next to INT32_MAX (fuzz_onnx_load).
inline int32_t WrapAdd(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// Round half to even for |x| <= 2^22, exactly like nearbyint and cvtps2dq under the default
// rounding mode, without a libm call: adding 1.5 * 2^23 leaves no fraction bits.
inline float RoundHalfEvenSmall(float x) { return (x + 12582912.0f) - 12582912.0f; }

// Requantization of one accumulator, shared by the scalar kernel and the other int8 ops.
inline int8_t Requantize(int32_t acc, float mult, int32_t zp, int32_t qmin, int32_t qmax);

// Packs weights-right operand: w is [n][k] (one row per output channel) -> [kp/4][np][4].
void PackRightS8(const int8_t* w, int64_t n, int64_t k, int64_t np, int64_t kp, int8_t* packed);
// The AVX2 kernel's widened left operand: rows [rows][kp] of s8 weights as int16, per tile of
// kQGemmAvx2TileRows rows (the last tile may be shorter) laid out [group][row in tile][4], the
// tiles one after another (tile t starts at element t * kQGemmAvx2TileRows * kp).
inline constexpr int64_t kQGemmAvx2TileRows = 6;
void WidenLeftS8(const int8_t* w, int64_t rows, int64_t kp, int16_t* out);
// Activations for kRight: x is [m][k] int8 -> [m][kp] u8 (x + 128, zero padded).
void PackLeftU8(const int8_t* x, int64_t m, int64_t k, int64_t kp, uint8_t* packed);

inline int8_t Requantize(int32_t acc, float mult, int32_t zp, int32_t qmin, int32_t qmax) {
  float x = static_cast<float>(acc) * mult;
  // Clamping before rounding equals clamping after it (the bounds are integers) and keeps the
  // float-to-int conversion in range; it matches the SIMD min/max + cvtps sequence exactly.
  const float lo = static_cast<float>(qmin - zp), hi = static_cast<float>(qmax - zp);
  x = x < lo ? lo : (x > hi ? hi : x);
  return static_cast<int8_t>(static_cast<int32_t>(RoundHalfEvenSmall(x)) + zp);
}
}  // namespace edge::engine
