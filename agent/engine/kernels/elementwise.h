// Per-element int8 kernels with ISA tiers: the 256-entry lookup behind the int8 activations, the
// depthwise conv (kernels/depthwise.h), the residual Add and input quantization. Scalar versions are the specification.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "agent/engine/kernels/cpu_features.h"
#include "agent/engine/kernels/depthwise.h"
#include "agent/engine/kernels/float_rows.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/winograd.h"

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

// The int8 result of a float value on the output's scale, as every non-GEMM int8 op rounds it:
// clamped to [qmin - zp, qmax - zp] (NaN saturates low), rounded half to even, plus zp.
inline int8_t SaturateToInt8(float y, int32_t zp, int32_t qmin, int32_t qmax) {
  const float lo = static_cast<float>(qmin - zp), hi = static_cast<float>(qmax - zp);
  y = !(y >= lo) ? lo : (y > hi ? hi : y);
  return static_cast<int8_t>(static_cast<int32_t>((y + 12582912.0f) - 12582912.0f) + zp);
}

// Rows of runs of a broadcasting int8 Add or Mul: in row r, operand a's element i is
// a[r * a_row + i * a_step] (step 1: a contiguous run, step 0: one value broadcast over the
// run), b's likewise, and the output's is y[r * n + i]; one row unless `rows` is set (a kernel
// walks the rows itself: its constants once per call, not per run).
//   Add: y = SaturateToInt8(ra * (a - za) + rb * (b - zb))   (multiplies and add separate)
//   Mul: y = SaturateToInt8(ra * (float)((a - za) * (b - zb)))
struct QBinaryRunArgs {
  const int8_t* a;
  const int8_t* b;
  int64_t a_step, b_step;  // 0 or 1
  int64_t n;
  bool mul;
  float ra, rb;
  int32_t za, zb, zo, qmin, qmax;
  int8_t* y;
  int64_t rows = 1, a_row = 0, b_row = 0;
};
using QBinaryRunFn = void (*)(const QBinaryRunArgs& args);

// Rows of runs of a float element-wise op whose operands are each int8 (read as
// DequantizeLinear reads it) or float, its result quantized as QuantizeLinear (a kQFloatOp Add,
// Sub, Mul, Div, Max or Min, ops/float_ops.cpp): per element the three steps' float
// operations, so their bytes. For r < rows, i < n:
//   y[r * n + i] = SaturateToInt8(Clamp(op(A(r, i), B(r, i))) / scale, zero_point, -128, 127)
//   Clamp(v) = std::min(std::max(v, lo), hi): a folded Relu or Clip, as ApplyUnary's Clip
//   A(r, i) = a.scale * (float)(a.q[r * a.row + i * a.step] - a.zero_point)  (a.q set),
//             else a.f[r * a.row + i * a.step]
// op as ElementArith<float> (ops/element_types.h): Max and Min propagate NaN from either side.
enum class FloatBinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kMax, kMin };
struct QFloatOperand {
  const int8_t* q = nullptr;  // int8 codes, or nullptr: the floats in f
  const float* f = nullptr;
  int64_t step = 1;  // 1: contiguous over the run, 0: one value broadcast over it
  int64_t row = 0;   // elements from one row's first to the next's
  float scale = 1.0f;
  int32_t zero_point = 0;
};
// The operand's element at offset `at` from its pointer, as a float (the scalar definition).
inline float QFloatOperandAt(const QFloatOperand& o, int64_t at) {
  return o.q != nullptr ? o.scale * static_cast<float>(o.q[at] - o.zero_point) : o.f[at];
}
struct QFloatBinaryRunArgs {
  QFloatOperand a, b;
  int64_t rows = 1, n = 0;
  FloatBinaryOp op = FloatBinaryOp::kAdd;
  float lo = -INFINITY, hi = INFINITY;  // the clamp (none: infinities, which change no bit)
  float scale = 1.0f;  // the output's QuantizeLinear
  int32_t zero_point = 0;
  int8_t* y = nullptr;
};
using QFloatBinaryRunFn = void (*)(const QFloatBinaryRunArgs& args);
// A MatMul's folded bias Add (QGemmColumnAdd) as the one-pass Add over rows x n codes (row
// pitch n, at zero_point) into y: for the kernels that do not take it in their epilogue.
inline QFloatBinaryRunArgs ColumnAddRun(const QGemmColumnAdd& c, const int8_t* codes, int32_t zero_point, int64_t rows,
                                        int64_t n, int8_t* y) {
  QFloatBinaryRunArgs r;
  r.a.q = codes;
  r.a.row = n;
  r.a.scale = c.scale_in;
  r.a.zero_point = zero_point;
  r.b.f = c.add;
  r.rows = rows;
  r.n = n;
  r.op = FloatBinaryOp::kAdd;
  r.lo = c.lo;
  r.hi = c.hi;
  r.scale = c.scale_out;
  r.zero_point = c.zero_point_out;
  r.y = y;
  return r;
}
// Calls f(std::integral_constant<FloatBinaryOp, op>{}): each tier's kernel instantiated per op.
template <typename F>
void VisitFloatBinaryOp(FloatBinaryOp op, F f) {
  using O = FloatBinaryOp;
  switch (op) {
    case O::kAdd: return f(std::integral_constant<O, O::kAdd>{});
    case O::kSub: return f(std::integral_constant<O, O::kSub>{});
    case O::kMul: return f(std::integral_constant<O, O::kMul>{});
    case O::kDiv: return f(std::integral_constant<O, O::kDiv>{});
    case O::kMax: return f(std::integral_constant<O, O::kMax>{});
    case O::kMin: return f(std::integral_constant<O, O::kMin>{});
  }
}
// Elements [from, n) of row r of a call, as a one-row call (how every tier walks rows; inline:
// a short row must not cost a call).
inline void AdvanceQFloatOperand(QFloatOperand& o, int64_t elements) {
  if (o.q != nullptr) o.q += elements; else o.f += elements;
}
inline QFloatBinaryRunArgs QFloatBinaryRow(const QFloatBinaryRunArgs& args, int64_t r, int64_t from = 0) {
  QFloatBinaryRunArgs p = args;
  AdvanceQFloatOperand(p.a, r * p.a.row + from * p.a.step);
  AdvanceQFloatOperand(p.b, r * p.b.row + from * p.b.step);
  p.rows = 1;
  p.y += r * p.n + from;
  p.n -= from;
  return p;
}

// Requantization of int8 values to other parameters (Concat's inputs, Requant):
// y[i] = SaturateToInt8(ratio * (x[i] - zi)).
struct QRequantArgs {
  const int8_t* x;
  int64_t n;
  float ratio;
  int32_t zi, zo, qmin, qmax;
  int8_t* y;
};
using QRequantFn = void (*)(const QRequantArgs& args);

// sums[p] = sum of x[p * count + i] over i < count, for p < planes: the integer part of a
// GlobalAveragePool, a whole-plane AveragePool or a ReduceMean over trailing axes.
using PlaneSumFn = void (*)(const int8_t* x, int64_t count, int64_t planes, int32_t* sums);

// maxima[p] = the largest of x[p * count + i] over i < count, for p < planes: an int8
// GlobalMaxPool (a MaxPool whose window is the whole map).
using PlaneMaxFn = void (*)(const int8_t* x, int64_t count, int64_t planes, int8_t* maxima);
// The same with the smallest (an int8 ReduceMin over trailing axes): minima[p] = min over i.
using PlaneMinFn = PlaneMaxFn;

// A float ReduceMax (max) or ReduceMin (!max) over the trailing axes, planes of `count` floats
// (count >= 1): y[p] is the float ReduceStep's chain over x[p * count + i] in order from -inf
// (+inf for the minimum), acc = Max(acc, v) (ElementArith, ops/element_types.h): a NaN element
// replaces acc, so the last NaN of a plane (its sign and payload) is the result; otherwise the
// extreme value, and of equal extremes the first (which sign a zero has).
using FloatPlaneExtremeFn = void (*)(const float* x, int64_t count, int64_t planes, bool max, float* y);

// AveragePool 2x2 stride 2 over planes whose windows all lie inside the input (2 * oh <= ih,
// 2 * ow <= iw), in one call: per output, the window's integer sum of x - zi, then QMeanScalar's
// float steps with divisor 4. x: planes of ih x iw bytes, y: planes of oh x ow. False where the
// tier leaves the call to the caller's row kernels (rows it does not vectorize).
struct AvgPool2x2Args {
  const int8_t* x;
  int64_t planes, ih, iw, oh, ow;
  int32_t zi;
  float ratio;
  int32_t zo, qmin, qmax;
  int8_t* y;
};
using AvgPool2x2Fn = bool (*)(const AvgPool2x2Args& args);

// LayerNormalization over rows of n floats (ops/float_ops.cpp, LayerNormRowsStep), the first
// rows / 16 * 16 rows: per row the mean as the in-order float sum over n divided by n, the
// variance as the in-order sum of (x - mean)^2 (a multiply, then an add) divided by n, inv =
// 1 / sqrt(variance + epsilon), y = ((x - mean) * inv) * g[a]: the step's own operations, so
// its bits. Returns the rows it did (the rest are the caller's).
using LayerNormRowsFn = int64_t (*)(const float* x, const float* g, int64_t rows, int64_t n, float epsilon, float* y);
// The in-order float sums of rows of n floats (sums[r] = ((0 + y[r][0]) + y[r][1]) + ...), the
// first rows / 16 * 16 rows; returns the rows it did (the rest are the caller's).
using RowSumsFn = int64_t (*)(const float* y, int64_t rows, int64_t n, float* sums);
// y[i] = table[x[i]] for i < n, where every code of x lies in [lo, hi] (lo <= hi) and
// table[lo..hi] are the entries (the table indexed by code, nothing outside them read): an int8
// Softmax row's exponentials (QSoftmaxTableStep). Pure data movement: the same floats at every
// tier.
using LookupFloatsFn = void (*)(const int8_t* x, int64_t n, const float* table, int32_t lo, int32_t hi, float* y);
void LookupFloatsScalar(const int8_t* x, int64_t n, const float* table, int32_t lo, int32_t hi, float* y);
// By vpermt2ps over the 32-entry segments of [lo, hi] (one where the row's codes span up to 32,
// at most 8), 16 codes per step.
void LookupFloatsAvx512(const int8_t* x, int64_t n, const float* table, int32_t lo, int32_t hi, float* y);
// One output row of a float Conv for the output channels of a group: for c < channels and
// ox < ow,
//   y[c * y_pitch + ox] = min(max(acc, lo), hi), acc = bias[c] (0 without a bias), then in order
//   for ic < cin, r < row_count, kx < kw where ix = ox * sw + kx * dw - pl is in [0, iw):
//   acc = acc + w[c * w_pitch + ic * w_ic + w_rows[r] + kx] * x[ic * x_ic + x_rows[r] + ix],
// each product and sum rounded once (no FMA): the float Conv step's reference order (per output,
// input channel, then depth and height taps, then width taps; taps in the padding left out), so
// its bits. x_rows / w_rows are the window rows inside the input (their input offsets within a
// channel, their weight offsets).
struct FloatConvRowArgs {
  const float* x;
  int64_t x_ic;
  const float* w;
  int64_t w_pitch, w_ic;
  const float* bias;
  int64_t channels, cin;
  const int64_t* x_rows;
  const int64_t* w_rows;
  int64_t row_count, kw, sw, dw, pl, iw, ow;
  float lo, hi;
  float* y;
  int64_t y_pitch;
};
using FloatConvRowFn = void (*)(const FloatConvRowArgs& a);
// The widest window (kw) the row kernels take; wider ones run the step's own loops.
inline constexpr int64_t kFloatConvMaxTaps = 16;

// A 2-D (or 1-D) float Conv of one batch element with the output pixels of a whole plane in the
// lanes (raster order: a vector spans rows, so narrow maps fill the vectors; which convs take it:
// PlaneLayoutOf in ops/float_conv.cpp): every output channel of every group, each pixel's sum in the step's order (the bias, then per input
// channel, window row and tap the product, where that tap is inside the input), clamped to
// [lo, hi]. Per pixel p (the tables hold pixels rounded up to 16 entries; past `pixels` a row0
// no tap reaches): row0[p] = oy * sh - pt and col0[p] = ox * sw - pl, the input position of
// tap (0, 0), which decide the lanes a tap adds to. Where a tap reads: `contiguous`, pixel p's
// input at x + tap_offsets[t] + p (one load per vector; the caller lays the input out so, for
// instance as stride phases); else gathered at x + tap_offsets[t] + base[p]. Weights
// [groups x channels][cin][kh][kw]; `channels` and `cin` are per group.
struct FloatConvPlaneArgs {
  const float* x;
  int64_t x_ic, x_group;  // floats between input channels, between groups' inputs
  const float* w;
  int64_t w_pitch;  // floats between output channels' weights (cin x kh x kw)
  const float* bias;  // or null
  int64_t groups, channels, cin, ih, iw, kh, kw, dh, dw;
  const int32_t* row0;
  const int32_t* col0;
  const int32_t* base;
  const int64_t* tap_offsets;  // [kh x kw]
  bool contiguous;
  int64_t pixels;
  float lo, hi;
  float* y;
  int64_t y_pitch, y_group;  // floats between output channels, between groups' outputs
};
using FloatConvPlaneFn = void (*)(const FloatConvPlaneArgs& a);
// The largest window (kh x kw) and plane (output pixels) the plane kernels take.
inline constexpr int64_t kFloatConvPlaneMaxTaps = 64;
inline constexpr int64_t kFloatConvPlaneMaxPixels = 4096;

// int8 MaxPool of planes (x: planes of ih x iw, y: planes of oh x ow), windows of kh rows x kw
// (2 or 3) columns at row stride sh and column stride 2, undilated, pads pt (top) and pl (left);
// window parts past the input's end (pads, ceil mode) read nothing, and a window with no input
// element gives -128. False where the tier leaves the call to the row kernels (rows wider than
// it takes).
struct MaxPoolPlanesArgs {
  const int8_t* x;
  int64_t planes, ih, iw, oh, ow, kh, kw, sh, pt, pl;
  int8_t* y;
};
using MaxPoolPlanesFn = bool (*)(const MaxPoolPlanesArgs& args);

// The last step of a windowed int8 AveragePool: y[i] = SaturateToInt8(((float)sums[i] /
// divs[i]) * ratio, zo, qmin, qmax), the window's int32 sum (zero point taken off) over its
// divisor, on the output's scale: the scalar step's float operations in its order.
struct QMeanArgs {
  const int32_t* sums;
  const float* divs;
  int64_t n;
  float ratio;
  int32_t zo, qmin, qmax;
  int8_t* y;
};
using QMeanFn = void (*)(const QMeanArgs& args);

// One output row of an int8 MaxPool whose windows lie inside the input:
// out[o] = max over r < row_count and t < taps of rows[r][o * stride + t * dilation], o < n.
// Reads no byte of a row past index (n - 1) * stride + (taps - 1) * dilation.
struct MaxPoolRowArgs {
  const int8_t* const* rows;
  int row_count;
  int64_t n, stride, taps, dilation;
  int8_t* out;
};
using MaxPoolRowFn = void (*)(const MaxPoolRowArgs& args);

// One row of an int8 pool's window sums: out[o] = sum over r < row_count and t < taps of
// first[r * row_pitch + o * stride + t], o < n (a windowed AveragePool's integer part). Reads no
// byte of a row past index (n - 1) * stride + taps - 1.
struct WindowSumRowArgs {
  const int8_t* first;
  int64_t row_pitch, row_count;
  int64_t n, stride, taps;
  int32_t* out;
};
using WindowSumRowFn = void (*)(const WindowSumRowArgs& args);

// An int8 MatMul of two activations whose sums are exact in float (K <= 258): for i < m, j < n,
// y[i][j] = Requantize(sum over t < k of (a[i][t] - za) * (b[t][j] - zb)), the sum taken in
// float (every product and partial sum an integer below 2^24, so exact in any order), then
// multiplied by `scale`, clamped to [qmin - zo, qmax - zo], rounded half to even, plus zo.
// `bf` is scratch for k * n floats (b - zb converted once).
struct QMatMulExactArgs {
  const int8_t* a;
  const int8_t* b;
  int64_t m, k, n;
  int32_t za, zb;
  float scale;
  int32_t zo, qmin, qmax;
  float* bf;
  int8_t* y;
};
using QMatMulExactFn = void (*)(const QMatMulExactArgs& args);
// The same MatMul by the tier's integer dot products, any K (int32 sums; `bf` unused): the
// bytes Requantize gives the exact sums. False, writing nothing, where it does not take it.
using QMatMulIntFn = bool (*)(const QMatMulExactArgs& args);

// A byte matrix transposed: dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows,
// c < cols (an int8 Transpose, one 2-D slice at a time). Pure data movement.
using TransposeBytesFn = void (*)(const uint8_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint8_t* dst,
                                  int64_t dst_stride);

// Softmax's exponentials: y[i] = portable::Expf(x[i] - shift) (ops/portable_math.h), the
// subtraction in float, e^ in double, rounded once: the same bits at every tier.
using ExpShiftedFn = void (*)(const float* x, int64_t n, float shift, float* y);

// The float activations whose functions are computed in double (ops/portable_math.h): y[i] =
// ApplyUnary of the kind (ops/unary_math.h) on x[i], bit for bit, for i < n: portable::Tanh,
// portable::Erf, Gelu (0.5x (1 + Erf(x / sqrt 2))) and GeluTanh, their float operations included.
// x may equal y; no float past n is read or written.
enum class FloatTranscendental : uint8_t { kTanh, kErf, kGelu, kGeluTanh };
using FloatTranscendentalFn = void (*)(FloatTranscendental f, const float* x, int64_t n, float* y);

// QuantizeLinear of floats: y = sat(round_half_even(x / scale) + zp), NaN saturating low.
using QuantizeFn = void (*)(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);

// DequantizeLinear of int8: y = scale * (float)(x - zp), one rounding (the multiply): the same
// bits at every width.
using DequantizeFn = void (*)(const int8_t* x, int64_t n, float scale, int32_t zero_point, float* y);

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
  QBinaryRunFn qbinary_run;
  QRequantFn qrequant;
  PlaneSumFn plane_sum;
  MaxPoolRowFn maxpool_row;
  TransposeBytesFn transpose_bytes;
  QMeanFn qmean;
  WindowSumRowFn window_sum_row;
  QMatMulExactFn qmatmul_exact;
  ExpShiftedFn exp_shifted;
  InterleaveStridedFn interleave_strided;
  DequantizeFn dequantize;
  QFloatBinaryRunFn qfloat_binary_run;
  // 3x3 stride-1 convs by Winograd F(2x2, 3x3) (kernels/winograd.h), where a tier gains from
  // it (AVX2: int16 multiplies at its int8 rate); null elsewhere, the GEMM forms then.
  WinogradFn winograd3x3 = nullptr;
  PlaneMaxFn plane_max = nullptr;  // set on every tier (ElementwiseForTier), as are the next two
  PlaneMinFn plane_min = nullptr;
  FloatPlaneExtremeFn float_plane_extreme = nullptr;
  // Non-null where `depthwise` reads some split plans' input unsplit (DepthwiseArgs::unsplit):
  // the caller then skips depthwise_split for the plans it accepts.
  DepthwiseUnsplitFn depthwise_unsplit = nullptr;
  // Non-null where a tier has a one-pass AveragePool 2x2 stride 2 (else the window-sum rows
  // and qmean).
  AvgPool2x2Fn avg_pool_2x2 = nullptr;
  // Non-null where a tier pools whole rows of planes at column stride 2 in one call (VBMI).
  MaxPoolPlanesFn maxpool_planes = nullptr;
  // Non-null where a tier takes LayerNormalization's rows, or rows to sum (Softmax), 16 at a
  // time, a row per lane.
  LayerNormRowsFn layernorm_rows = nullptr;
  FloatConvRowFn float_conv_row = nullptr;  // the x86 tiers (null: the step's own loops)
  FloatConvPlaneFn float_conv_plane = nullptr;  // likewise
  FloatRowsTimesMatrixFn rows_times_matrix = &RowsTimesMatrixScalar;  // kernels/float_rows.h
  CellActivationFn cell_activation = &CellActivationScalar;          // kernels/float_rows.h
  FloatTranscendentalFn float_transcendental = nullptr;  // the x86 tiers (null: ApplyUnary's loop)
  RowSumsFn row_sums = nullptr;
  LookupFloatsFn lookup_floats = &LookupFloatsScalar;
  // Non-null where a tier multiplies two int8 activations by integer dot products (VNNI).
  QMatMulIntFn qmatmul_int = nullptr;
  // The rows of tap words (TapWordRowsU8, kernels/im2col_u8.h): the shared form
  // unless a tier has a wider one.
  TapWordRowsFn tap_word_rows = &TapWordRowsU8;
  // A conv's k-group views gathered into columns (GatherWordRows, likewise).
  GatherWordsFn gather_words = &GatherWordRows;
};

void QAddScalar(const QAddArgs& args);
// QAddScalar on elements [done, n): the tail a SIMD tier leaves.
void QAddScalarFrom(const QAddArgs& args, int64_t done);
// True where converting with the CPU's round-to-nearest-even instruction (cvtps2dq, fcvtns)
// equals RoundHalfEvenSmall for every value clamped to [lo, hi]: both within 2^22. SIMD tiers
// give calls outside (zero points no int8 model has) to the scalar kernel.
bool RoundsExactlyBySimd(float lo, float hi);
// The largest |x - z| of an int8 x: how far one dequantized operand reaches from 0.
inline double Int8Reach(int32_t z) { return 128.0 + std::fabs(static_cast<double>(z)); }
void QAddAvx2(const QAddArgs& args);
void QAddAvx512(const QAddArgs& args);
void QBinaryRunScalar(const QBinaryRunArgs& args);
void QRequantScalar(const QRequantArgs& args);
// AVX2 forms, also used by the AVX-512 tiers (every AVX-512 CPU has AVX2).
void PlaneSumScalar(const int8_t* x, int64_t count, int64_t planes, int32_t* sums);
void MaxPoolRowScalar(const MaxPoolRowArgs& args);
void QBinaryRunAvx2(const QBinaryRunArgs& args);
void PlaneSumAvx2(const int8_t* x, int64_t count, int64_t planes, int32_t* sums);
void PlaneSumAvx512(const int8_t* x, int64_t count, int64_t planes, int32_t* sums);
void PlaneMaxScalar(const int8_t* x, int64_t count, int64_t planes, int8_t* maxima);
void PlaneMaxAvx2(const int8_t* x, int64_t count, int64_t planes, int8_t* maxima);
void PlaneMinScalar(const int8_t* x, int64_t count, int64_t planes, int8_t* minima);
void PlaneMinAvx2(const int8_t* x, int64_t count, int64_t planes, int8_t* minima);
void FloatPlaneExtremeScalar(const float* x, int64_t count, int64_t planes, bool max, float* y);
// 32 floats a step in four vectors; a plane holding a NaN goes to the scalar chain, one whose
// extreme is a zero takes its first zero (the chain's sign).
void FloatPlaneExtremeAvx2(const float* x, int64_t count, int64_t planes, bool max, float* y);
void MaxPoolRowAvx2(const MaxPoolRowArgs& args);
void WindowSumRowScalar(const WindowSumRowArgs& args);
void WindowSumRowAvx2(const WindowSumRowArgs& args);
bool AvgPool2x2Avx2(const AvgPool2x2Args& args);
void QMatMulExactScalar(const QMatMulExactArgs& args);
void QMatMulExactAvx2(const QMatMulExactArgs& args);
void QMatMulExactAvx512(const QMatMulExactArgs& args);
void TransposeBytesScalar(const uint8_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint8_t* dst,
                          int64_t dst_stride);
void TransposeBytesAvx2(const uint8_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint8_t* dst,
                        int64_t dst_stride);  // strides 1 and 2; others go to the scalar kernel
void QRequantAvx2(const QRequantArgs& args);
void QMeanScalar(const QMeanArgs& args);
void QMeanAvx2(const QMeanArgs& args);
// AVX-512 forms (16 lanes, masked tails).
void QBinaryRunAvx512(const QBinaryRunArgs& args);
void QMeanAvx512(const QMeanArgs& args);
void QRequantAvx512(const QRequantArgs& args);
void QuantizeScalar(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);
void DequantizeScalar(const int8_t* x, int64_t n, float scale, int32_t zero_point, float* y);
void QFloatBinaryRunScalar(const QFloatBinaryRunArgs& args);
void QFloatBinaryRunAvx2(const QFloatBinaryRunArgs& args);
void QFloatBinaryRunAvx512(const QFloatBinaryRunArgs& args);
void DequantizeAvx2(const int8_t* x, int64_t n, float scale, int32_t zero_point, float* y);
void DequantizeAvx512(const int8_t* x, int64_t n, float scale, int32_t zero_point, float* y);
void ExpShiftedScalar(const float* x, int64_t n, float shift, float* y);
// kernels/float_math_avx2.cpp, float_math_avx512.cpp (kernels/float_math_simd.h): portable_math.h's
// double operations lane by lane, four and eight doubles per vector.
void ExpShiftedAvx2(const float* x, int64_t n, float shift, float* y);
void ExpShiftedAvx512(const float* x, int64_t n, float shift, float* y);
void FloatTranscendentalAvx2(FloatTranscendental f, const float* x, int64_t n, float* y);
void FloatTranscendentalAvx512(FloatTranscendental f, const float* x, int64_t n, float* y);
void QuantizeAvx2(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);
void QuantizeAvx512(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);
// LayerNormRowsFn: 16 rows at a time, their sums side by side in one vector (each lane a row,
// its adds in order) from 16 x 16 blocks transposed in registers; the normalization along rows.
int64_t LayerNormRowsAvx512(const float* x, const float* g, int64_t rows, int64_t n, float epsilon, float* y);
// FloatConvRowFn: 4 output channels x 2 vectors of columns per step (AVX2: 8 floats, AVX-512F:
// 16), stride 1 and 2 columns loaded, others gathered; the columns whose taps reach into the
// padding under per-tap lane masks.
void FloatConvRowAvx2(const FloatConvRowArgs& a);
void FloatConvRowAvx512(const FloatConvRowArgs& a);
// FloatConvPlaneFn: 4 output channels x 2 vectors of pixels per step (AVX2) or 8 x 3
// (AVX-512F), single channels (depthwise) 4 vectors; per tap and vector a lane mask of the pixels whose
// input is inside the map.
void FloatConvPlaneAvx2(const FloatConvPlaneArgs& a);
void FloatConvPlaneAvx512(const FloatConvPlaneArgs& a);
int64_t RowSumsAvx512(const float* y, int64_t rows, int64_t n, float* sums);
// QMatMulIntFn by the VNNI GEMM (kernels/qgemm_avx512vnni.cpp), the zero points as row and
// column terms of its sums; operands up to 16 KB packed.
bool QMatMulAvx512Vnni(const QMatMulExactArgs& args);

void Interleave4Avx512(const int8_t* const src[4], int64_t n, uint8_t* dst);
// Im2colRowsFn (kernels/im2col_u8.h): rows 16 or 8 wide 64 output pixels per step, other widths
// through the 128-bit form.
void Im2colRowsAvx512(const int8_t* const p[4], const int64_t row_step[4], int64_t rows, int64_t width,
                      uint8_t* dst);
// Im2colRowsFn at any width by byte permutes (AVX-512 VBMI; 16 and 8 wide: Im2colRowsAvx512).
void Im2colRowsAvx512Vbmi(const int8_t* const p[4], const int64_t row_step[4], int64_t rows, int64_t width,
                          uint8_t* dst);
// GatherWordRows at stride 2 by one vpermt2d per 16 words (two rows per vector where they are
// 8 wide), from masked loads of exactly the words used; at stride 1 the shared copy.
void GatherWordRowsAvx512(const uint8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width,
                          uint8_t* dst);
// InterleavePaddedU8 at stride 1: whole rows per vector where they are 16, 32 or 64 bytes,
// else 64 pixels of a row per step.
void InterleavePaddedAvx512(const int8_t* x, const ConvGeometry& g, int64_t hp, int64_t wp, uint8_t pad_byte,
                            const int8_t* pad_row, int64_t block_stride, uint8_t* out);

// InterleaveStridedU8 at strides 3 and 4 by pshufb gathers, 16 pixels per step, reading no
// byte past the last one it uses (PickStrided clamps its loads); other strides: the shared form.
void InterleaveStridedAvx2(const int8_t* const src[4], int64_t sw, int64_t n, uint8_t* dst);
// InterleaveStridedU8 at strides 2-8 by byte permutes (AVX-512 VBMI), 32 pixels per step at
// stride 2, 16 at 3-4, 8 at 5-8: each source's bytes in one masked load of exactly the bytes
// used, two vpermt2b pair the sources, one vpermt2w per 16 pixels makes their words. Other
// strides: the shared form.
void InterleaveStridedAvx512Vbmi(const int8_t* const src[4], int64_t sw, int64_t n, uint8_t* dst);
// TapWordRowsU8 by one vpshufb per 8 words (two 16-byte loads in the lanes), reading no
// further past a row than the shared form.
void TapWordRowsAvx2(const int8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width, uint8_t* dst);
// TapWordRowsU8 by one vpermb per 16 words from a masked load of exactly the bytes they use
// (AVX-512 VBMI).
void TapWordRowsAvx512Vbmi(const int8_t* src, int64_t sw, int64_t row_step, int64_t rows, int64_t width,
                           uint8_t* dst);
// MaxPoolPlanesFn for rows of up to 64 bytes with the left pad (pl + iw <= 64) and up to 31
// outputs: per output row the window rows' maxima in one masked load each (-128 outside the
// input), then one vpermb per window column (AVX-512 VBMI).
bool MaxPoolPlanesAvx512Vbmi(const MaxPoolPlanesArgs& a);
// WindowSumRowFn: windows of up to 8 taps at strides 5-8 (8 per step) or of up to 4 at
// strides 2-4 (16 per step) by vpermb + vpdpbusd
// (AVX-512 VBMI and VNNI); other windows through WindowSumRowAvx2.
void WindowSumRowAvx512Vbmi(const WindowSumRowArgs& a);
// MaxPoolRowFn: the rows-first windows (ColumnsFirstPays) in registers, vpermt2b per tap and
// vpermb picks (AVX-512 VBMI); the others through MaxPoolRowAvx2.
void MaxPoolRowAvx512Vbmi(const MaxPoolRowArgs& a);
// Where the x86 pool row kernels take rows first, then the windows: per output the AVX2 dense
// steps cost about rows x taps x stride / 32 vector ops, rows first about (rows + taps) x
// stride / 32 plus the picks: the dense steps keep one-row windows at strides 5 to 8
// (MaxPool1d), whose picks they vectorize.
inline bool ColumnsFirstPays(int64_t stride, int64_t rows) { return stride > 8 || (stride >= 5 && rows >= 2); }

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
