#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/ops/element_types.h"
#include "agent/engine/ops/portable_math.h"

#include <algorithm>
#include <cmath>

namespace edge::engine {
namespace {
constexpr int64_t kMatMulBlock = 256;  // output columns per pass (stack sums)
}  // namespace


void LutScalar(const int8_t* x, int64_t n, const int8_t* table, int8_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = table[static_cast<uint8_t>(x[i])];
}

void QAddScalar(const QAddArgs& p) {
  const float lo = static_cast<float>(p.qmin - p.zo), hi = static_cast<float>(p.qmax - p.zo);
  const float ra = p.ra, rb = p.rb;
  const int32_t za = p.za, zb = p.zb, zo = p.zo;
  for (int64_t i = 0; i < p.n; ++i) {
    float v = ra * static_cast<float>(p.a[i] - za) + rb * static_cast<float>(p.b[i] - zb);
    v = std::min(std::max(v, lo), hi);
    p.y[i] = static_cast<int8_t>(static_cast<int32_t>(RoundHalfEvenSmall(v)) + zo);
  }
}

void QAddScalarFrom(const QAddArgs& p, int64_t done) {
  QAddArgs rest = p;
  rest.a += done;
  rest.b += done;
  rest.y += done;
  rest.n -= done;
  QAddScalar(rest);
}

void QBinaryRunScalar(const QBinaryRunArgs& p) {
  for (int64_t r = 0; r < p.rows; ++r) {
    const int8_t* ar = p.a + r * p.a_row;
    const int8_t* br = p.b + r * p.b_row;
    for (int64_t i = 0; i < p.n; ++i) {
      const int32_t a = ar[i * p.a_step] - p.za, b = br[i * p.b_step] - p.zb;
      const float v = p.mul ? p.ra * static_cast<float>(a * b)
                            : p.ra * static_cast<float>(a) + p.rb * static_cast<float>(b);
      p.y[r * p.n + i] = SaturateToInt8(v, p.zo, p.qmin, p.qmax);
    }
  }
}

void QRequantScalar(const QRequantArgs& p) {
  for (int64_t i = 0; i < p.n; ++i) p.y[i] = SaturateToInt8(p.ratio * static_cast<float>(p.x[i] - p.zi), p.zo, p.qmin, p.qmax);
}

void PlaneSumScalar(const int8_t* x, int64_t count, int64_t planes, int32_t* sums) {
  for (int64_t p = 0; p < planes; ++p) {
    const int8_t* src = x + p * count;
    int32_t sum = 0;
    for (int64_t i = 0; i < count; ++i) sum += src[i];
    sums[p] = sum;
  }
}

void PlaneMaxScalar(const int8_t* x, int64_t count, int64_t planes, int8_t* maxima) {
  for (int64_t p = 0; p < planes; ++p) maxima[p] = *std::max_element(x + p * count, x + (p + 1) * count);
}

void LookupFloatsScalar(const int8_t* x, int64_t n, const float* table, int32_t /*lo*/, int32_t /*hi*/, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = table[x[i]];
}

void PlaneMinScalar(const int8_t* x, int64_t count, int64_t planes, int8_t* minima) {
  for (int64_t p = 0; p < planes; ++p) minima[p] = *std::min_element(x + p * count, x + (p + 1) * count);
}

void FloatPlaneExtremeScalar(const float* x, int64_t count, int64_t planes, bool max, float* y) {
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = x + p * count;
    float acc = max ? -INFINITY : INFINITY;
    for (int64_t i = 0; i < count; ++i) {
      const float v = src[i];
      if (std::isnan(v) || (max ? acc < v : v < acc)) acc = v;
    }
    y[p] = acc;
  }
}

void MaxPoolRowScalar(const MaxPoolRowArgs& a) {
  for (int64_t o = 0; o < a.n; ++o) {
    int8_t best = a.rows[0][o * a.stride];
    for (int r = 0; r < a.row_count; ++r) {
      for (int64_t t = 0; t < a.taps; ++t) best = std::max(best, a.rows[r][o * a.stride + t * a.dilation]);
    }
    a.out[o] = best;
  }
}

void WindowSumRowScalar(const WindowSumRowArgs& a) {
  for (int64_t o = 0; o < a.n; ++o) {
    int32_t sum = 0;
    for (int64_t r = 0; r < a.row_count; ++r) {
      for (int64_t t = 0; t < a.taps; ++t) sum += a.first[r * a.row_pitch + o * a.stride + t];
    }
    a.out[o] = sum;
  }
}

void QMatMulExactScalar(const QMatMulExactArgs& p) {
  for (int64_t e = 0; e < p.k * p.n; ++e) p.bf[e] = static_cast<float>(static_cast<int32_t>(p.b[e]) - p.zb);
  const float low = static_cast<float>(p.qmin - p.zo), high = static_cast<float>(p.qmax - p.zo);
  for (int64_t i = 0; i < p.m; ++i) {
    int8_t* yr = p.y + i * p.n;
    for (int64_t j0 = 0; j0 < p.n; j0 += kMatMulBlock) {
      const int64_t width = std::min(kMatMulBlock, p.n - j0);
      float acc[kMatMulBlock];
      for (int64_t j = 0; j < width; ++j) acc[j] = 0.0f;
      for (int64_t t = 0; t < p.k; ++t) {
        const float av = static_cast<float>(static_cast<int32_t>(p.a[i * p.k + t]) - p.za);
        const float* br = p.bf + t * p.n + j0;
        for (int64_t j = 0; j < width; ++j) acc[j] += av * br[j];
      }
      // Requantize's steps on the float sum itself (an integer below 2^24: float(int(s)) is s)
      for (int64_t j = 0; j < width; ++j) {
        float v = acc[j] * p.scale;
        v = v < low ? low : (v > high ? high : v);
        yr[j0 + j] = static_cast<int8_t>(static_cast<int32_t>((v + 12582912.0f) - 12582912.0f) + p.zo);
      }
    }
  }
}

void QMeanScalar(const QMeanArgs& a) {
  for (int64_t i = 0; i < a.n; ++i) {
    const float mean = static_cast<float>(a.sums[i]) / a.divs[i];
    a.y[i] = SaturateToInt8(mean * a.ratio, a.zo, a.qmin, a.qmax);
  }
}

void TransposeBytesScalar(const uint8_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint8_t* dst,
                          int64_t dst_stride) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * dst_stride + r] = src[r * src_stride + c];
  }
}

bool RoundsExactlyBySimd(float lo, float hi) {
  constexpr float kExactRoundingBound = 4194304.0f;  // 2^22
  return std::fabs(lo) <= kExactRoundingBound && std::fabs(hi) <= kExactRoundingBound;
}

void QuantizeScalar(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = SaturateToInt8(x[i] / scale, zero_point, -128, 127);  // NaN saturates low
}

void DequantizeScalar(const int8_t* __restrict x, int64_t n, float scale, int32_t zero_point, float* __restrict y) {
  for (int64_t i = 0; i < n; ++i) y[i] = scale * static_cast<float>(x[i] - zero_point);
}

namespace {

template <FloatBinaryOp kOp>
float ApplyFloatBinary(float x, float y) {
  using E = ElementArith<float>;
  if constexpr (kOp == FloatBinaryOp::kAdd) return E::Add(x, y);
  if constexpr (kOp == FloatBinaryOp::kSub) return E::Sub(x, y);
  if constexpr (kOp == FloatBinaryOp::kMul) return E::Mul(x, y);
  if constexpr (kOp == FloatBinaryOp::kDiv) return E::Div(x, y);
  if constexpr (kOp == FloatBinaryOp::kMax) return E::Max(x, y);
  return E::Min(x, y);
}

template <typename F>
void QFloatBinaryRunOf(const QFloatBinaryRunArgs& args, F f) {
  for (int64_t r = 0; r < args.rows; ++r) {
    const QFloatBinaryRunArgs p = QFloatBinaryRow(args, r);
    for (int64_t i = 0; i < p.n; ++i) {
      const float v = f(QFloatOperandAt(p.a, i * p.a.step), QFloatOperandAt(p.b, i * p.b.step));
      p.y[i] = SaturateToInt8(std::min(std::max(v, p.lo), p.hi) / p.scale, p.zero_point, -128, 127);
    }
  }
}

}  // namespace

void QFloatBinaryRunScalar(const QFloatBinaryRunArgs& p) {
  VisitFloatBinaryOp(p.op, [&](auto op) { QFloatBinaryRunOf(p, [](float x, float y) { return ApplyFloatBinary<decltype(op)::value>(x, y); }); });
}

void ExpShiftedScalar(const float* x, int64_t n, float shift, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = portable::Expf(x[i] - shift);
}

}  // namespace edge::engine
